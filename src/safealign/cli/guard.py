"""Guardrail commands: ``safealign guard``, ``safealign train guard``, ``safealign serve``.

Heavy imports (torch, transformers, fastapi) happen inside the command functions so ``safealign --help`` stays fast.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import typer

from safealign.config import BaseConfig, add_config_command, help_field
from safealign.errors import ConfigError, DataError, ModelNotFoundError

DEFAULT_GUARD = "runs/demo/guard"


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
def guard_command(
    prompt: Optional[str] = typer.Argument(None, help="The prompt to check (or use --input for a file)."),
    input: Optional[str] = typer.Option(
        None,
        "--input",
        "-i",
        help='JSONL file of {"prompt", "response"?} objects (or a text file, one prompt per line).',
    ),  # noqa: A002
    response: Optional[str] = typer.Option(
        None, "--response", "-r", help="Check this answer to PROMPT (output moderation) instead of the prompt alone."
    ),
    guard: Optional[str] = typer.Option(
        None, "--guard", "-g", help=f"Trained guard folder (default: {DEFAULT_GUARD})."
    ),
    judge: Optional[str] = typer.Option(
        None,
        "--judge",
        help="Use a generative judge instead: a local model ('default', hub id, path) or, with --judge-url, the "
             "endpoint's model name.",
    ),
    judge_url: Optional[str] = typer.Option(
        None, "--judge-url", help="OpenAI-compatible base URL of the judge (e.g. http://127.0.0.1:8001/v1)."
    ),
    generate: bool = typer.Option(
        False,
        "--generate",
        help="Run the whole guardrail: answer with --model through input screening, moderation, regeneration and "
             "fallback.",
    ),
    model: str = typer.Option(
        "default", "--model", "-m", help="Model that answers with --generate ('default', hub id or path)."
    ),
    policy: Optional[str] = typer.Option(
        None, "--policy", help="Policy YAML (severity/category -> action); default: the packaged policy."
    ),
    max_rounds: Optional[int] = typer.Option(
        None, "--max-rounds", help="Regeneration rounds before the fallback (default: the policy's, 5)."
    ),
    max_new_tokens: int = typer.Option(128, "--max-new-tokens", help="Answer length limit with --generate."),
    batch_size: int = typer.Option(16, "--batch-size", help="Prompts checked (or answered) per batch."),
    output: Optional[str] = typer.Option(
        None, "--output", "-o", help="Write one JSON result per line here (default with --input: stdout)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the single result as JSON on stdout."),
) -> None:
    """Check prompts (and answers) with the guard, or run the full guardrail with --generate."""
    from safealign.cli.common import console, print_json, summary, task_progress

    if (prompt is None) == (input is None):
        raise ConfigError("give either a PROMPT argument or --input FILE (not both)")
    if response is not None and input is not None:
        raise ConfigError("--response goes with a single PROMPT; put responses in the --input file instead")
    if max_rounds is not None and max_rounds < 0:
        raise ConfigError("--max-rounds must be >= 0")
    rows = [{"prompt": prompt, "response": response, "_row": 1}] if prompt is not None else read_prompts(input)  # type: ignore[arg-type]
    from safealign.guard.policy import Policy

    pol = Policy.load(policy)
    g = build_guard(guard, judge, judge_url)
    pipe = None
    if generate:
        from safealign.backends.base import GenerationParams
        from safealign.backends.local import LocalBackend
        from safealign.guard.pipeline import GuardrailPipeline

        pipe = GuardrailPipeline(
            g, LocalBackend.from_pretrained(model, batch_size=batch_size), pol, max_rounds,
            GenerationParams(max_new_tokens=max_new_tokens),
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
        if input is None and not output and as_json:
            print_json(results[0])
        elif input is not None or output:
            for r in results:
                (out_f or sys.stdout).write(json.dumps(r, ensure_ascii=False, default=str) + "\n")
    finally:
        if out_f:
            out_f.close()
    if input is None and not as_json:
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
@dataclass
class GuardTrainConfig(BaseConfig):
    """Train the guard: a fine-tuned encoder (default) or heads on frozen sentence embeddings, each with unsafe /
    severity / category heads, calibrated and thresholded on a dev split carved from the training data."""

    kind: str = help_field("finetuned", "'finetuned' (all-MiniLM-L6-v2 trained end to end) or 'frozen' (heads on "
                                        "frozen embeddings, for comparison).")
    data: list[str] = help_field(
        ["seed", "demo", "lookalikes"],
        "Training sources, comma-separated: 'seed' (packaged seed prompts), 'demo' (demo safety pairs), 'lookalikes' "
        "(the train split of the packaged look-alike set), or labelled JSONL/JSON files ({prompt, label, response?, "
        "category?, severity?}; data collect's .answers.jsonl too).",
    )
    shared_data: Optional[str] = help_field(
        None, "A shared/data folder: adds the train split of its public prompt sets (never their held-out split)."
    )
    output_dir: str = help_field(DEFAULT_GUARD, "Where the guard folder is written (atomically).")
    augment: bool = help_field(
        True,
        "Add response-level examples built from prompt labels (refusal = safe; compliance after a harmful prompt = "
        "unsafe).",
    )
    augment_share: float = help_field(0.15, "Share of the prompts that get augmented answers.")
    steps: int = help_field(500, "Fine-tuning steps (finetuned).")
    batch_size: int = help_field(16, "Examples per fine-tuning step (finetuned).")
    learning_rate: Optional[float] = help_field(None, "AdamW learning rate (default 1.5e-4 finetuned, 2e-3 frozen).")
    max_length: int = help_field(128, "Longest input in tokens, prompt and answer together (finetuned).")
    freeze_layers: int = help_field(2, "Lowest encoder layers kept frozen, with the embeddings (finetuned).")
    target_fpr: float = help_field(
        0.03, "Prompt threshold: at most this share of the dev split's safe prompts flagged."
    )
    target_fpr_response: float = help_field(
        0.05, "Answer threshold: at most this share of the dev split's safe (prompt, answer) items flagged (finetuned)."
    )
    epochs: int = help_field(60, "Training epochs of the heads (frozen).")
    hidden: int = help_field(256, "Hidden width of the heads (frozen).")
    stage2: Optional[str] = help_field(
        None,
        "Stage 2 for the uncertain band (frozen): a backbone ('default', hub id, path) trained with the same heads.",
    )
    cost_model: Optional[str] = help_field(None, "Stage 2 = a trained safealign cost model folder (frozen).")
    band_low: float = help_field(0.2, "Stage 1 is unsure above this P(unsafe) ... (frozen)")
    band_high: float = help_field(0.8, "... and below this one; only those go to stage 2 (frozen).")
    threads: int = help_field(0, "torch threads (0: torch's default).")
    seed: int = help_field(0, "Random seed.")


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
def serve_command(
    model: str = typer.Option(
        "default", "--model", "-m", help="Local model behind the guard ('default', hub id or path)."
    ),
    guard: Optional[str] = typer.Option(
        None, "--guard", "-g", help=f"Trained guard folder (default: {DEFAULT_GUARD})."
    ),
    judge: Optional[str] = typer.Option(
        None, "--judge", help="Use a generative judge as the guard (local model, or the model name with --judge-url)."
    ),
    judge_url: Optional[str] = typer.Option(None, "--judge-url", help="OpenAI-compatible base URL of the judge."),
    policy: Optional[str] = typer.Option(None, "--policy", help="Policy YAML; default: the packaged policy."),
    max_rounds: Optional[int] = typer.Option(
        None, "--max-rounds", help="Regeneration rounds before the fallback (default: the policy's, 5)."
    ),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on (127.0.0.1: this machine only)."),
    port: int = typer.Option(8000, "--port", "-p", help="Port to listen on."),
    api_key_env: str = typer.Option(
        "SAFEALIGN_API_KEY",
        "--api-key-env",
        help="Environment variable holding the API key clients must send; unset = no key check.",
    ),
    served_name: str = typer.Option(
        "safealign-guarded", "--served-model-name", help="Model id reported by /v1/models and in responses."
    ),
    max_input_chars: int = typer.Option(
        32000, "--max-input-chars", help="Longest accepted input (characters, all messages together); longer gets 413."
    ),
    default_max_tokens: int = typer.Option(
        256, "--default-max-tokens", help="Answer length when a request gives no max_tokens."
    ),
    log: Optional[str] = typer.Option(None, "--log", help="Append every guard decision as a JSON line to this file."),
    batch_size: int = typer.Option(8, "--batch-size", help="Local generation batch size (regeneration rounds)."),
) -> None:
    """Serve an OpenAI-compatible API (chat completions, moderations) with the guardrail in front of a local model."""
    from safealign.backends.local import LocalBackend
    from safealign.cli.common import console
    from safealign.guard.pipeline import GuardrailPipeline
    from safealign.guard.policy import Policy
    from safealign.serve import create_app, serve

    if max_rounds is not None and max_rounds < 0:
        raise ConfigError("--max-rounds must be >= 0")
    if not 0 < port < 65536:
        raise ConfigError(f"--port must be 1..65535, got {port}")
    g = build_guard(guard, judge, judge_url)
    pipe = GuardrailPipeline(
        g, LocalBackend.from_pretrained(model, batch_size=batch_size), Policy.load(policy), max_rounds, log_path=log
    )
    key = os.environ.get(api_key_env) or None
    app = create_app(
        pipe, model_name=served_name, api_key=key, max_input_chars=max_input_chars,
        default_max_tokens=default_max_tokens,
    )
    console.print(
        f"[bold green]serving[/] {model} behind guard '{g.name}' at http://{host}:{port}/v1 (API key "
        f"{'required' if key else 'not required'})"
    )
    serve(app, host=host, port=port)


def register(apps) -> None:  # noqa: ANN001
    apps.root.command(
        "guard", help="Check prompts (and answers) with the guard, or run the full guardrail with --generate."
    )(guard_command)
    apps.root.command("serve", help="OpenAI-compatible server with the guardrail in front of a local model.")(
        serve_command
    )
    add_config_command(
        apps.train,
        "guard",
        GuardTrainConfig,
        run_train_guard,
        help="Train the guard (cascade of embedding classifiers, calibrated) from safety pairs and labelled prompt "
             "lists.",
    )
