"""Guardrail commands: ``safealign guard``, ``safealign train guard``, ``safealign serve``; their configs live in
:mod:`safealign.guard.config` and :mod:`safealign.serve.config`.

Heavy imports (torch, transformers, fastapi) happen inside the command functions so ``safealign --help`` stays fast.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any, Optional

from safealign.config import add_config_command
from safealign.errors import ConfigError, DataError, ModelNotFoundError
from safealign.guard.config import DEFAULT_GUARD, GuardCheckConfig, GuardTrainConfig
from safealign.serve.config import ServeConfig


# ------------------------------------------------------------------------------------------------ helpers
def build_guard(
    guard: Optional[str],
    judge: Optional[str] = None,
    judge_url: Optional[str] = None,
    judge_api_key_env: str = "OPENAI_API_KEY",
) -> Any:
    """The trained cascade at ``guard`` (default runs/demo/guard), or a generative judge (local model or endpoint)."""
    if judge_url or judge:
        from safealign.guard.judge import JudgeGuard, openai_backend

        if judge_url:
            backend = openai_backend(judge_url, judge or "judge", os.environ.get(judge_api_key_env))
        else:
            from safealign.backends.local import LocalBackend

            backend = LocalBackend.from_pretrained(judge)
        return JudgeGuard(backend)
    from safealign.guard.classifier import Guard

    path = Path(guard or DEFAULT_GUARD)
    if not path.exists():
        raise ModelNotFoundError(
            f"no guard at {path}: train one with `safealign train guard --output-dir {path}` (or pass --judge MODEL)"
        )
    return Guard.load(path)


def read_prompts(path: str) -> list[dict[str, Any]]:
    """Prompts to check: JSONL of {"prompt", "response"?} (or {"messages": [...]}) objects, or plain text lines."""
    p = Path(path)
    if not p.exists():
        raise DataError("file not found", str(p))
    rows: list[dict[str, Any]] = []
    for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        if p.suffix in (".jsonl", ".json") or line.lstrip().startswith("{"):
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as e:
                raise DataError(f"invalid JSON ({e.msg})", str(p), n) from None
            if not isinstance(obj, dict):
                raise DataError("expected a JSON object", str(p), n)
            if "messages" in obj:
                from safealign.guard.messages import last_user_prompt

                if not isinstance(obj["messages"], list):
                    raise DataError("must be a list of messages", str(p), n, "messages")
                obj.setdefault("prompt", last_user_prompt(obj["messages"]))
            prompt = obj.get("prompt", obj.get("goal", obj.get("instruction")))
            if not isinstance(prompt, str) or not prompt.strip():
                raise DataError("missing or empty", str(p), n, "prompt")
            resp = obj.get("response")
            if resp is not None and not isinstance(resp, str):
                raise DataError("must be a string", str(p), n, "response")
            rows.append({**obj, "prompt": prompt, "_row": n})
        else:
            rows.append({"prompt": line.strip(), "_row": n})
    if not rows:
        raise DataError("no prompts found", str(p))
    return rows


# ------------------------------------------------------------------------------------------------ safealign guard
def run_guard(cfg: GuardCheckConfig) -> None:
    """Check prompts (and answers) with the guard, or run the full guardrail with --generate."""
    from safealign.cli.common import console, print_json, summary, task_progress

    prompt, input, response, output = cfg.prompt, cfg.input, cfg.response, cfg.output  # noqa: A001
    max_rounds, batch_size, generate = cfg.max_rounds, cfg.batch_size, cfg.generate
    if (prompt is None) == (input is None):
        raise ConfigError("give either a PROMPT argument or --input FILE (not both)")
    if response is not None and input is not None:
        raise ConfigError("--response goes with a single PROMPT; put responses in the --input file instead")
    if max_rounds is not None and max_rounds < 0:
        raise ConfigError("--max-rounds must be >= 0")
    rows = [{"prompt": prompt, "response": response, "_row": 1}] if prompt is not None else read_prompts(input)  # type: ignore[arg-type]
    from safealign.guard.policy import Policy

    pol = Policy.load(cfg.policy)
    g = build_guard(cfg.guard, cfg.judge, cfg.judge_url)
    pipe = None
    if generate:
        from safealign.backends.local import LocalBackend
        from safealign.guard.pipeline import GuardrailPipeline

        pipe = GuardrailPipeline(
            g, LocalBackend.from_pretrained(cfg.model, batch_size=batch_size), pol, max_rounds, cfg.generation()
        )
    results: list[dict[str, Any]] = []
    with task_progress(disable=len(rows) < 2) as bar:
        task = bar.add_task("guard", total=len(rows))
        for b in range(0, len(rows), batch_size):
            chunk = rows[b : b + batch_size]
            if pipe is not None:
                chats = [r.get("messages") or [{"role": "user", "content": r["prompt"]}] for r in chunk]
                for r, d in zip(chunk, pipe.run_batch(chats)):
                    results.append({"row": r["_row"], "prompt": r["prompt"], **d.to_dict(include_history=False)})
            else:
                verdicts = g.classify_batch([(r["prompt"], r.get("response"), None) for r in chunk])
                for r, v in zip(chunk, verdicts):
                    level = "output" if r.get("response") is not None else "input"
                    results.append(
                        {
                            "row": r["_row"],
                            "prompt": r["prompt"],
                            "level": level,
                            "action": pol.action_for(v, level),
                            **v.to_dict(),
                        }
                    )
            bar.advance(task, len(chunk))

    out_f = open(output, "w", encoding="utf-8") if output else None  # noqa: SIM115
    try:
        if input is None and not output and cfg.as_json:
            print_json(results[0])
        elif input is not None or output:
            for r in results:
                (out_f or sys.stdout).write(json.dumps(r, ensure_ascii=False, default=str) + "\n")
    finally:
        if out_f:
            out_f.close()
    if input is None and not cfg.as_json:
        r = results[0]
        if generate:
            console.print(f"[bold]{r['action']}[/] ({r['reason']}), rounds={r['rounds']}, {r['latency_ms']:.0f} ms")
            sys.stdout.write((r.get("response") or "") + "\n")
        else:
            flag = "[red]UNSAFE[/]" if r["is_unsafe"] else "[green]safe[/]"
            cats = ", ".join(r["categories"]) or "-"
            console.print(
                f"{flag} p_unsafe={r['unsafe_prob']:.3f} severity={r['severity']} categories={cats} -> {r['action']} "
                f"(stage {r['stage']}, {r['latency_ms']:.1f} ms)"
            )
    key = "action" if generate else "is_unsafe"
    flagged = sum(1 for r in results if (r[key] != "allow" if generate else r[key]))
    what = "answered (not allowed as is)" if generate else "flagged unsafe"
    summary(f"{len(results)} checked, {flagged} {what}" + (f"; results in {output}" if output else ""))


# ------------------------------------------------------------------------------------------------ safealign train guard


def run_train_guard(cfg: GuardTrainConfig) -> dict[str, Any]:
    from safealign.cli.common import print_json, summary, task_progress
    from safealign.guard.train import GuardTrainSpec, guard_metrics, train_guard
    from safealign.guard.training_data import assemble

    spec = GuardTrainSpec(
        kind=cfg.kind, steps=cfg.steps, batch_size=cfg.batch_size, learning_rate=cfg.learning_rate,
        max_length=cfg.max_length, freeze_layers=cfg.freeze_layers, target_fpr=cfg.target_fpr,
        target_fpr_response=cfg.target_fpr_response, epochs=cfg.epochs, hidden=cfg.hidden, stage2=cfg.stage2,
        cost_model=cfg.cost_model, band=(cfg.band_low, cfg.band_high), threads=cfg.threads, seed=cfg.seed,
    )
    spec.validate()
    if not 0.0 <= cfg.augment_share <= 1.0:
        raise ConfigError(f"augment_share must be in [0, 1], got {cfg.augment_share}")
    data = assemble(cfg.data, cfg.shared_data, augment=cfg.augment, augment_share=cfg.augment_share, seed=cfg.seed)
    with task_progress() as bar:
        tasks: dict[str, Any] = {}

        def progress(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(stage, total=total)
            bar.update(tasks[stage], completed=done)

        guard = train_guard(data, spec, progress)
    guard.save(cfg.output_dir)
    m = guard_metrics(guard)
    report = {"output_dir": cfg.output_dir, "kind": cfg.kind, **{k: v for k, v in m.items() if k != "settings"}}
    print_json(report)
    d = data.report()
    summary(f"{cfg.kind} guard trained on {d['train']} examples ({d['dev']} held out as dev) -> {cfg.output_dir}")
    return report


# ------------------------------------------------------------------------------------------------ safealign serve
def run_serve(cfg: ServeConfig) -> None:
    """Serve an OpenAI-compatible API (chat completions, moderations) with the guardrail in front of a local model."""
    from safealign.backends.local import LocalBackend
    from safealign.cli.common import console
    from safealign.guard.pipeline import GuardrailPipeline
    from safealign.guard.policy import Policy
    from safealign.serve import create_app, serve

    if cfg.max_rounds is not None and cfg.max_rounds < 0:
        raise ConfigError("--max-rounds must be >= 0")
    if not 0 < cfg.port < 65536:
        raise ConfigError(f"--port must be 1..65535, got {cfg.port}")
    g = build_guard(cfg.guard, cfg.judge, cfg.judge_url)
    pipe = GuardrailPipeline(
        g, LocalBackend.from_pretrained(cfg.model, batch_size=cfg.batch_size), Policy.load(cfg.policy), cfg.max_rounds,
        log_path=cfg.log,
    )
    key = os.environ.get(cfg.api_key_env) or None
    app = create_app(
        pipe, model_name=cfg.served_model_name, api_key=key, max_input_chars=cfg.max_input_chars,
        default_max_tokens=cfg.default_max_tokens,
    )
    console.print(
        f"[bold green]serving[/] {cfg.model} behind guard '{g.name}' at http://{cfg.host}:{cfg.port}/v1 (API key "
        f"{'required' if key else 'not required'})"
    )
    serve(app, host=cfg.host, port=cfg.port)


def register(apps) -> None:  # noqa: ANN001
    add_config_command(apps.root, "guard", GuardCheckConfig, run_guard)
    add_config_command(
        apps.root, "serve", ServeConfig, run_serve,
        help="OpenAI-compatible server with the guardrail in front of a local model.",
    )
    add_config_command(
        apps.train,
        "guard",
        GuardTrainConfig,
        run_train_guard,
        help="Train the guard (a fine-tuned encoder, or heads on frozen embeddings) from safety pairs, the look-alike "
             "set and labelled prompt lists.",
    )
