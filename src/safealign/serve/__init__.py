"""The guarded OpenAI-compatible server: ``create_app(pipeline)`` (FastAPI) and ``serve``/``ServerThread`` (uvicorn)."""

from safealign.serve.app import create_app
from safealign.serve.runner import ServerThread, serve

__all__ = ["create_app", "serve", "ServerThread"]
