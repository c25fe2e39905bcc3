"""The guarded OpenAI-compatible server: ``create_app(pipeline)`` (FastAPI) and ``serve``/``ServerThread`` (uvicorn).
FastAPI and uvicorn load when these are first used (:mod:`safealign.serve.config` stays light for the CLI)."""

__all__ = ["create_app", "serve", "ServerThread"]


def __getattr__(name: str):  # lazy: fastapi/uvicorn load only when these are used
    if name == "create_app":
        from safealign.serve.app import create_app

        return create_app
    if name in ("serve", "ServerThread"):
        from safealign.serve import runner

        return getattr(runner, name)
    raise AttributeError(name)
