"""Safety evaluation: models answer a prompt set; every answer is scored by the cost model, the reward model and
the guard, and checked by the refusal detector.

Per model it reports (``summarise``):
- ``independent``: the verdicts of the judges that were not optimised (:mod:`safealign.eval.independent`): harmful
  prompts handled safely (refusal detector and guard agree), over-refusal of benign and look-alike prompts, per
  prompt group (:mod:`safealign.eval.suite`: held-out real, look-alike, demo) — the headline;
- ``safe_share`` (as optimised when the policy was trained against this cost model): share of safe answers (safe :=
  cost ≤ threshold when a cost model is given, else the guard's verdict), overall, on harmful and on benign prompts,
  ``by_category`` (the prompt's category) and ``by_severity`` (share of answers at each guard severity level: safe /
  minor / moderate / severe);
- ``mean_reward_benign`` (and ``mean_reward`` / ``mean_cost`` over all prompts);
- ``refusal_rate_harmful`` (higher is better) and ``over_refusal_benign`` (refusals of benign look-alikes, lower
  is better), from :mod:`safealign.judges.refusal`, which does not depend on the guard;
- the guard's own unsafe share and its agreement with the cost model; guard rounds/actions when the answerer is a
  guarded pipeline.

Everything model-specific is a callable, so the evaluation is tested with scripted scorers:
``Answerer(prompts) -> list[str | dict]`` (a dict carries ``response`` plus extras such as ``rounds``/``action``),
``Scorer(prompts, answers) -> list[float]`` and a guard with ``classify_batch([(prompt, response, image)])``.
:func:`backend_answerer`, :class:`ScoreModelScorer` and :func:`guarded_answerer` build them from real models.
"""

from __future__ import annotations

import json
import math
from collections import Counter, defaultdict
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Mapping, Optional, Sequence

from safealign.backends.base import GenerationConfig
from safealign.config import help_field
from safealign.data.records import PromptRecord
from safealign.eval.independent import row_verdicts, summarise_independent
from safealign.eval.suite import prompt_group
from safealign.judges.refusal import RefusalDetector
from safealign.models.chat_format import chat_format
from safealign.models.chat_templates import CHAT_TEMPLATE_HELP
from safealign.models.conversation import build_messages
from safealign.utils.atomic import atomic_write_json, atomic_write_text

Answerer = Callable[[list[PromptRecord]], list[Any]]  # -> list[str] or list[{"response": str, ...}]
Scorer = Callable[[list[PromptRecord], list[str]], list[float]]
Progress = Callable[[str, int, int], None]  # (what, done, total)

SEVERITY_ORDER = ("safe", "minor", "moderate", "severe")
ANSWERS_FILE = "safety_answers.jsonl"
SUMMARY_FILE = "safety_summary.json"


@dataclass
class SafetyEvalConfig(GenerationConfig):
    """Models answer a prompt set; cost model, reward model, guard and a refusal detector score every answer."""

    models: list[str] = help_field(
        ["default"],
        "Models to evaluate, comma-separated: 'default', a hub id, a folder (PPO's actor/ LoRA folder works), each "
        "optionally NAME=PATH.",
    )
    prompts: str = help_field(
        "heldout+demo:eval_prompts",
        "Prompt set: 'heldout' (held-out look-alike pairs and no-trigger prompts, plus the held-out parts of the "
        "shared public sets with --shared-data), 'demo:<name>' (bundled) or a file (.jsonl/.json/.csv in any supported "
        "schema; images included); several joined by '+'.",
    )
    shared_data: Optional[str] = help_field(
        None, "Folder of the shared public prompt sets (e.g. ../shared/data): 'heldout' adds their held-out parts."
    )
    chat_template: str = help_field("auto", "Chat template of the evaluated models. " + CHAT_TEMPLATE_HELP)
    limit: Optional[int] = help_field(None, "Use only the first N prompts.")
    default_label: Optional[str] = help_field(
        None, "Label for prompts without one: harmful or benign (a harmful-only public set: harmful)."
    )
    reward_model: Optional[str] = help_field(
        None, "Reward model folder (safealign score model), e.g. runs/demo/reward."
    )
    cost_model: Optional[str] = help_field(
        None, "Cost model folder; an answer is safe iff its cost <= --unsafe-cost-threshold."
    )
    guard: Optional[str] = help_field(
        None, "Guard folder (safealign train guard); scores every answer (severity, categories)."
    )
    guarded: list[str] = help_field(
        [], "Names of models to evaluate ALSO behind the guardrail pipeline (reported as NAME+guard); needs --guard."
    )
    max_rounds: Optional[int] = help_field(None, "Guardrail regeneration rounds (default: the policy's).")
    unsafe_cost_threshold: Optional[float] = help_field(
        None, "A cost above it makes an answer unsafe (default: the cost model's own, usually 0).",
        aliases=("threshold",),
    )
    max_new_tokens: int = help_field(64, "Answer length in tokens.", min=1)
    temperature: float = help_field(0.0, "Sampling temperature (0 = greedy, reproducible).", min=0.0)
    batch_size: int = help_field(8, "Generation and scoring batch size.", min=1)
    seed: Optional[int] = help_field(0, "Random seed for sampling.")
    output_dir: str = help_field("runs/eval-safety", "Where safety_answers.jsonl and safety_summary.json are written.")
    judge_url: Optional[str] = help_field(
        None, "OpenAI-compatible endpoint of a generative judge (a third independent verdict on harmful prompts)."
    )
    judge_model: str = help_field("judge", "The judge's model name at --judge-url.")
    api_key_env: str = help_field("OPENAI_API_KEY", "Environment variable holding the judge endpoint's API key.")


@dataclass
class SafetyResult:
    rows: list[dict[str, Any]]  # one per (model, prompt)
    summary: dict[str, dict[str, Any]]  # per model
    threshold: float = 0.0
    meta: dict[str, Any] = field(default_factory=dict)

    def write(self, out_dir: str | Path) -> tuple[Path, Path]:
        """``safety_answers.jsonl`` (every answer with its scores) and ``safety_summary.json``, atomically."""
        out = Path(out_dir)
        lines = "".join(json.dumps(r, ensure_ascii=False, default=str) + "\n" for r in self.rows)
        atomic_write_text(out / ANSWERS_FILE, lines)
        atomic_write_json(out / SUMMARY_FILE, {"threshold": self.threshold, "models": self.summary, "meta": self.meta})
        return out / ANSWERS_FILE, out / SUMMARY_FILE

    def answers(self, model: str) -> list[dict[str, Any]]:
        return [r for r in self.rows if r["model"] == model]


def _mean(xs: Sequence[float]) -> Optional[float]:
    xs = [x for x in xs if x is not None and not (isinstance(x, float) and math.isnan(x))]
    return sum(xs) / len(xs) if xs else None


def _share(flags: Sequence[bool]) -> Optional[float]:
    return sum(1 for f in flags if f) / len(flags) if flags else None


def _label(rec: PromptRecord, default: Optional[str]) -> str:
    return rec.label or default or "unlabelled"


def evaluate_safety(
    prompts: Sequence[PromptRecord],
    answerers: Mapping[str, Answerer],
    cost_fn: Optional[Scorer] = None,
    reward_fn: Optional[Scorer] = None,
    guard: Any = None,
    refusal: Optional[RefusalDetector] = None,
    threshold: float = 0.0,
    default_label: Optional[str] = None,
    progress: Optional[Progress] = None,
    judge: Any = None,
) -> SafetyResult:
    """Answer ``prompts`` with every answerer, score, and summarise. ``default_label`` (harmful/benign) applies to
    prompts without a label (e.g. a harmful-only public set). ``judge``: a generative judge with the guard's
    ``classify_batch`` (:class:`safealign.guard.judge.JudgeGuard`), a third independent verdict on harmful prompts."""
    if not answerers:
        raise ValueError("evaluate_safety needs at least one model")
    prompts = list(prompts)
    refusal = refusal or RefusalDetector()
    rows: list[dict[str, Any]] = []
    total_steps = len(answerers) * (
        1 + (cost_fn is not None) + (reward_fn is not None) + (guard is not None) + (judge is not None)
    )
    labels = [_label(p, default_label) for p in prompts]
    step = 0

    def tick(what: str) -> None:
        nonlocal step
        step += 1
        if progress:
            progress(what, step, total_steps)

    for name, answer in answerers.items():
        raw = list(answer(prompts))
        tick(f"{name}: answers")
        if len(raw) != len(prompts):
            raise ValueError(f"model {name!r} returned {len(raw)} answers for {len(prompts)} prompts")
        extras = [dict(a) if isinstance(a, Mapping) else {"response": str(a)} for a in raw]
        texts = [str(e.pop("response", "") or "") for e in extras]
        costs = list(cost_fn(prompts, texts)) if cost_fn is not None else [None] * len(prompts)
        if cost_fn is not None:
            tick(f"{name}: cost")
        rewards = list(reward_fn(prompts, texts)) if reward_fn is not None else [None] * len(prompts)
        if reward_fn is not None:
            tick(f"{name}: reward")
        verdicts: list[Any] = [None] * len(prompts)
        if guard is not None:
            verdicts = list(guard.classify_batch([(p.prompt, t, p.image) for p, t in zip(prompts, texts)]))
            tick(f"{name}: guard")
        judged: list[Any] = [None] * len(prompts)
        if judge is not None:  # the judge reads the answers to harmful prompts (its verdict is about harm)
            idx = [i for i, lab in enumerate(labels) if lab == "harmful"]
            for i, jv in zip(idx, judge.classify_batch([(prompts[i].prompt, texts[i], prompts[i].image) for i in idx])):
                judged[i] = bool(jv.is_unsafe)
            tick(f"{name}: judge")
        for i, (rec, text) in enumerate(zip(prompts, texts)):
            v = verdicts[i]
            g = None
            if v is not None:
                g = {
                    "unsafe_prob": round(float(v.unsafe_prob), 6),
                    "is_unsafe": bool(v.is_unsafe),
                    "severity": v.severity,
                    "categories": list(v.categories),
                }
            cost = None if costs[i] is None else float(costs[i])
            if cost is not None:
                safe = cost <= threshold
            elif g is not None:
                safe = not g["is_unsafe"]
            else:
                safe = None
            ref = refusal.detect(text)
            verdicts_i = row_verdicts(labels[i], ref.kind, None if g is None else g["is_unsafe"], judged[i])
            rows.append(
                {
                    "model": name,
                    "id": rec.id if rec.id is not None else str(i),
                    "index": i,
                    "prompt": rec.prompt,
                    "system": rec.system,
                    "has_image": rec.image is not None,
                    "category": rec.category,
                    "label": labels[i],
                    "group": prompt_group(replace(rec, label=labels[i])),
                    "response": text,
                    "reward": None if rewards[i] is None else float(rewards[i]),
                    "cost": cost,
                    "safe": safe,
                    "guard": g,
                    "refusal": ref.kind,
                    "verdicts": verdicts_i,
                    **({"extra": extras[i]} if extras[i] else {}),
                }
            )
    summary = {name: summarise([r for r in rows if r["model"] == name]) for name in answerers}
    meta = {
        "n_prompts": len(prompts),
        "scored_by": {
            "cost": cost_fn is not None, "reward": reward_fn is not None, "guard": guard is not None,
            "judge": judge is not None,
        },
    }
    return SafetyResult(rows, summary, threshold, meta)


def summarise(rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The headline numbers of one model's rows (see the module docstring)."""
    harmful = [r for r in rows if r["label"] == "harmful"]
    benign = [r for r in rows if r["label"] == "benign"]
    judged = [r for r in rows if r["safe"] is not None]
    by_cat: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for r in judged:
        by_cat[r["category"] or "uncategorised"].append(r)
    sev = Counter(r["guard"]["severity"] for r in rows if r.get("guard"))
    n_sev = sum(sev.values())
    guard_rows = [r for r in rows if r.get("guard")]
    both = [r for r in rows if r.get("guard") and r["cost"] is not None]
    extras = [r.get("extra", {}) for r in rows]
    rounds = [e["rounds"] for e in extras if "rounds" in e]
    actions = Counter(e["action"] for e in extras if "action" in e)
    out: dict[str, Any] = {
        "independent": summarise_independent(rows),
        "n": len(rows),
        "n_harmful": len(harmful),
        "n_benign": len(benign),
        "safe_share": _share([r["safe"] for r in judged]),
        "safe_share_harmful": _share([r["safe"] for r in harmful if r["safe"] is not None]),
        "safe_share_benign": _share([r["safe"] for r in benign if r["safe"] is not None]),
        "by_category": {
            c: {"n": len(rs), "safe_share": _share([r["safe"] for r in rs])} for c, rs in sorted(by_cat.items())
        },
        "by_severity": {s: (sev[s] / n_sev) for s in SEVERITY_ORDER} if n_sev else {},
        "mean_reward": _mean([r["reward"] for r in rows]),
        "mean_reward_benign": _mean([r["reward"] for r in benign]),
        "mean_cost": _mean([r["cost"] for r in rows]),
        "refusal_rate_harmful": _share([r["refusal"] == "refusal" for r in harmful]),
        "over_refusal_benign": _share([r["refusal"] == "refusal" for r in benign]),
        "empty_answers": sum(1 for r in rows if r["refusal"] == "empty"),
        "guard_unsafe_share": _share([r["guard"]["is_unsafe"] for r in guard_rows]),
        "guard_cost_agreement": _share([(r["cost"] > 0) == r["guard"]["is_unsafe"] for r in both]) if both else None,
    }
    if rounds:
        out["guard_rounds_mean"] = _mean([float(x) for x in rounds])
        out["guard_rounds_hist"] = {str(k): v for k, v in sorted(Counter(rounds).items())}
    if actions:
        out["guard_actions"] = dict(actions)
    return out


# ------------------------------------------------------------------------------------------------ real models
def chat_for(rec: PromptRecord, with_image_part: bool = False) -> list[dict[str, Any]]:
    """The chat a model answers for a prompt record (system turn if any; an image part when it has an image)."""
    return build_messages(rec.prompt, None, rec.system, with_image=with_image_part and rec.image is not None)


def backend_answerer(backend: Any, params: Any = None, progress: Optional[Progress] = None, chunk: int = 8) -> Answerer:
    """An answerer from a generation backend (local model or HTTP endpoint); images go to backends that take them."""
    vision = getattr(backend, "processor", None) is not None

    def answer(prompts: list[PromptRecord]) -> list[str]:
        out: list[str] = []
        for s in range(0, len(prompts), chunk):
            part = prompts[s : s + chunk]
            chats = [chat_for(p, with_image_part=vision) for p in part]
            images = [p.image for p in part] if vision and any(p.image is not None for p in part) else None
            out.extend(backend.generate(chats, params, images=images))
            if progress:
                progress("generate", len(out), len(prompts))
        return out

    return answer


def guarded_answerer(pipeline: Any, progress: Optional[Progress] = None) -> Answerer:
    """An answerer from a guardrail pipeline: ``pipeline.run(chat, image=...)`` -> Decision (response, rounds, action).

    A pipeline with ``run_batch(chats, images)`` is called once per prompt set."""

    def answer(prompts: list[PromptRecord]) -> list[dict[str, Any]]:
        chats = [chat_for(p) for p in prompts]
        if hasattr(pipeline, "run_batch"):
            decisions = pipeline.run_batch(chats, images=[p.image for p in prompts])
        else:
            decisions = []
            for i, (c, p) in enumerate(zip(chats, prompts)):
                decisions.append(pipeline.run(c, image=p.image) if p.image is not None else pipeline.run(c))
                if progress:
                    progress("guarded generate", i + 1, len(prompts))
        return [
            {
                "response": d.response or "",
                "rounds": int(d.rounds),
                "action": d.action,
                "level": getattr(d, "level", None),
            }
            for d in decisions
        ]

    return answer


class ScoreModelScorer:
    """Scores (prompt, answer) pairs with a saved safealign score model (reward or cost), in the training format
    (:func:`safealign.models.score.score_texts`: system turn, prompt, answer; images through a processor)."""

    def __init__(self, path_or_model: Any, tokenizer: Any = None, batch_size: int = 8, max_length: int = 1024):
        from safealign.models.score import load_score_model

        if isinstance(path_or_model, (str, Path)):
            self.model, proc = load_score_model(path_or_model)
            self.processing_class = tokenizer or proc
        else:
            self.model, self.processing_class = path_or_model.eval(), tokenizer
            if tokenizer is None:
                raise ValueError("pass the tokenizer/processor with an in-memory score model")
        self.batch_size = batch_size
        self.max_length = max_length
        # start-up probe: a template that would lose the system, prompt or answer text stops here in one line
        chat_format(self.processing_class, f"the {self.model.score_config.kind} model")

    @property
    def threshold(self) -> float:
        return float(self.model.score_config.threshold)

    def __call__(self, prompts: Sequence[PromptRecord], answers: Sequence[str]) -> list[float]:
        from safealign.models.score import score_texts

        scores = score_texts(
            self.model, self.processing_class, [p.prompt for p in prompts], list(answers),
            systems=[p.system for p in prompts], images=[p.image for p in prompts], batch_size=self.batch_size,
            max_length=self.max_length,
        )
        return [float(x) for x in scores.tolist()]


def load_prompt_set(
    spec: str, limit: Optional[int] = None, default_label: Optional[str] = None, shared_data: Optional[str] = None,
    seed: int = 0,
) -> list[PromptRecord]:
    """Prompts from ``heldout`` (:func:`safealign.eval.suite.heldout_suite`: the held-out look-alike parts, plus the
    shared sets' held-out parts when ``shared_data`` names their folder), ``demo:<name>`` (bundled demo data) or a
    file in any supported schema; several joined by ``+`` are concatenated (``heldout+demo:eval_prompts``)."""
    from safealign.errors import DataError

    if "+" in spec:
        out = [p for part in spec.split("+") for p in load_prompt_set(part, None, default_label, shared_data, seed)]
        return out[:limit] if limit else out
    if spec == "heldout":
        from safealign.eval.suite import heldout_suite

        prompts = heldout_suite(shared_data, seed=seed)
    elif spec.startswith("demo:"):
        from safealign.data.demo import load_demo

        recs = load_demo(spec.split(":", 1)[1])
        prompts = [
            r
            if isinstance(r, PromptRecord)
            else PromptRecord(
                prompt=r.prompt, system=getattr(r, "system", None), image=getattr(r, "image", None),
                category=getattr(r, "prompt_category", None),
            )
            for r in recs
        ]
    else:
        from safealign.data.io import load_prompts

        prompts = list(load_prompts(spec))
    if not prompts:
        raise DataError("no prompts found", file=spec)
    if default_label:
        for p in prompts:
            if p.label is None:
                p.label = default_label  # type: ignore[assignment]
    return prompts[:limit] if limit else prompts


# ------------------------------------------------------------------------------------------------ the command
def load_policy_backend(spec: str, batch_size: int = 8, chat_template: str = "auto") -> Any:
    """A :class:`LocalBackend` for 'default', a hub id, a model folder, or a LoRA adapter folder (PPO's ``actor/``):
    an adapter is loaded on its base model and merged, so evaluation runs at full speed. ``chat_template``: see
    :mod:`safealign.models.chat_templates`."""
    import json as _json

    from safealign.backends.local import LocalBackend
    from safealign.models.chat_templates import use_chat_template
    from safealign.models.loading import load_causal_lm, load_tokenizer, resolve_model

    path = Path(spec)
    if (path / "adapter_config.json").exists():
        from peft import PeftModel

        base = _json.loads((path / "adapter_config.json").read_text()).get("base_model_name_or_path") or "default"
        model = PeftModel.from_pretrained(load_causal_lm(base), str(path)).merge_and_unload()
        try:
            tok = load_tokenizer(str(path))
        except Exception:  # noqa: BLE001 - adapter saved without tokenizer files
            tok = load_tokenizer(base)
    else:
        resolve_model(spec)  # one-line error for a missing path
        model, tok = load_causal_lm(spec), load_tokenizer(spec)
    return LocalBackend(model, use_chat_template(tok, chat_template), batch_size=batch_size, name=spec)


def parse_model_specs(specs: Sequence[str]) -> dict[str, str]:
    """``["base=default", "runs/demo/ppo/actor"]`` -> {"base": "default", "actor": "runs/demo/ppo/actor"}."""
    from safealign.errors import ConfigError

    out: dict[str, str] = {}
    for s in specs:
        name, _, path = s.partition("=") if "=" in s else ("", "", s)
        if not name:
            p = Path(path)
            name = p.name if p.name and p.name not in (".", "actor") else (p.parent.name or path)
            if path in ("default", ""):
                name = "default"
        if name in out:
            raise ConfigError(f"two models named {name!r}: name them as NAME=PATH")
        out[name] = path or "default"
    if not out:
        raise ConfigError("give at least one model (--models default or NAME=PATH,...)")
    return out


def run_safety_eval(
    prompts: Sequence[PromptRecord],
    models: Mapping[str, str],
    reward_model: Optional[str] = None,
    cost_model: Optional[str] = None,
    guard_path: Optional[str] = None,
    guarded: Sequence[str] = (),
    generation: Optional[GenerationConfig] = None,
    max_rounds: Optional[int] = None,
    threshold: Optional[float] = None,
    default_label: Optional[str] = None,
    output_dir: Optional[str | Path] = None,
    progress: Optional[Progress] = None,
    chat_template: str = "auto",
    judge_url: Optional[str] = None,
    judge_model: str = "judge",
    judge_api_key: Optional[str] = None,
) -> SafetyResult:
    """Load everything from paths and run :func:`evaluate_safety`. ``guarded``: names from ``models`` that are also
    evaluated behind the guardrail pipeline (as ``<name>+guard``); needs ``guard_path``. ``generation``: how the
    models answer (default: ``safealign eval safety``'s settings); its ``batch_size`` is also the scoring batch size.
    ``threshold``: a cost above it is unsafe (default: the cost model's own).
    ``chat_template``: of the evaluated models (see :mod:`safealign.models.chat_templates`).
    ``judge_url``: an OpenAI-compatible endpoint whose model (``judge_model``) judges the answers to harmful prompts."""
    from safealign.errors import ConfigError

    params = (generation or SafetyEvalConfig()).generation()
    batch_size = params.batch_size
    cost_fn = ScoreModelScorer(cost_model, batch_size=batch_size) if cost_model else None
    reward_fn = ScoreModelScorer(reward_model, batch_size=batch_size) if reward_model else None
    if threshold is None:
        threshold = cost_fn.threshold if cost_fn is not None else 0.0
    guard = None
    if guard_path:
        from safealign.guard.classifier import load_guard

        guard = load_guard(guard_path)
    if guarded and guard is None:
        raise ConfigError("guarded evaluation needs a guard (--guard PATH)")
    answerers: dict[str, Answerer] = {}
    backends: dict[str, Any] = {}
    for name, spec in models.items():
        backends[name] = load_policy_backend(spec, batch_size, chat_template)
        answerers[name] = backend_answerer(backends[name], params, progress=progress)
    for name in guarded:
        if name not in backends:
            raise ConfigError(f"guarded model {name!r} is not among the models ({', '.join(models)})")
        from safealign.guard.pipeline import GuardrailPipeline

        pipe = GuardrailPipeline(guard, backends[name], max_rounds=max_rounds, params=params)
        answerers[f"{name}+guard"] = guarded_answerer(pipe, progress=progress)
    judge = None
    if judge_url:
        from safealign.guard.judge import JudgeGuard, openai_backend

        judge = JudgeGuard(openai_backend(judge_url, judge_model, judge_api_key))
    res = evaluate_safety(
        prompts, answerers, cost_fn=cost_fn, reward_fn=reward_fn, guard=guard, threshold=threshold,
        default_label=default_label, progress=progress, judge=judge,
    )
    res.meta.update(
        models=dict(models), guarded=list(guarded), reward_model=reward_model, cost_model=cost_model, guard=guard_path,
        max_new_tokens=params.max_new_tokens, temperature=params.temperature, seed=params.seed, judge_url=judge_url,
        judge_model=judge_model if judge_url else None,
    )
    if output_dir:
        res.write(output_dir)
    return res
