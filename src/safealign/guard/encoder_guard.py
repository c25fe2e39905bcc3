"""The fine-tuned guard: a small encoder trained end to end on (prompt) and (prompt, response), with three heads.

The prompt, or the prompt and the answer as a sentence pair (``[CLS] prompt [SEP] answer [SEP]``, so the encoder reads
the answer in the light of the request), go through all-MiniLM-L6-v2 (22 M parameters; any BERT-like encoder works)
and mean pooling, then:

- ``unsafe``      one logit; P(unsafe) = sigmoid(logit / T), T fitted on the dev split (temperature scaling);
- ``severity``    3 logits (minor / moderate / severe), the severity GIVEN unsafe;
- ``categories``  one sigmoid per harm category (multi-label, :mod:`safealign.guard.categories`).

A text is unsafe when P(unsafe) reaches the operating threshold of its level: one for prompts (input screening) and
one for (prompt, response) items (output moderation), each chosen on the dev split for a stated false-positive rate
(:mod:`safealign.guard.finetune`). Training: :func:`safealign.guard.finetune.train_encoder_guard`.

Saved layout (``EncoderGuard.save(path)``, atomic)::

    PATH/guard_config.json   format safealign-guard/2, kind "finetuned": categories, temperature, thresholds, metrics
    PATH/encoder/            the fine-tuned encoder and its tokenizer (transformers' save_pretrained)
    PATH/heads.safetensors   the three heads
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any, Optional, Sequence

import torch
from torch import nn

from safealign.errors import ModelNotFoundError
from safealign.guard.base import BaseGuard, GuardItem
from safealign.guard.decision import GuardVerdict
from safealign.guard.scoring import verdict_from_probs
from safealign.utils.atomic import atomic_dir

GUARD_CONFIG = "guard_config.json"
HEADS_FILE = "heads.safetensors"
ENCODER_DIR = "encoder"
FORMAT = "safealign-guard/2"
KIND = "finetuned"
TOKEN_KEYS = ("input_ids", "attention_mask", "token_type_ids")


def mean_pool(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """[B, L, H] -> [B, H]: the mean over real tokens only (the pooling all-MiniLM-L6-v2 was trained with)."""
    m = mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * m).sum(1) / m.sum(1).clamp(min=1.0)


class GuardEncoder(nn.Module):
    """Encoder + mean pooling + the unsafe / severity / category heads. ``forward`` returns the three logits, and
    ``loss`` when labels are given (the multi-task loss of :func:`guard_loss`)."""

    def __init__(self, encoder: nn.Module, num_categories: int, dropout: float = 0.1, pos_weight: float = 1.0):
        super().__init__()
        self.encoder = encoder
        hidden = int(encoder.config.hidden_size)
        self.dropout = nn.Dropout(dropout)
        self.unsafe = nn.Linear(hidden, 1)
        self.severity = nn.Linear(hidden, 3)
        self.categories = nn.Linear(hidden, num_categories)
        self.pos_weight = float(pos_weight)

    def heads_state(self) -> dict[str, torch.Tensor]:
        return {k: v for k, v in self.state_dict().items() if not k.startswith("encoder.")}

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        token_type_ids: Optional[torch.Tensor] = None,
        labels_unsafe: Optional[torch.Tensor] = None,
        labels_severity: Optional[torch.Tensor] = None,
        labels_categories: Optional[torch.Tensor] = None,
        categories_mask: Optional[torch.Tensor] = None,
    ) -> dict[str, torch.Tensor]:
        kw = {"token_type_ids": token_type_ids} if token_type_ids is not None else {}
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask, **kw).last_hidden_state
        h = self.dropout(mean_pool(hidden, attention_mask))  # [B, H]
        out = {"unsafe": self.unsafe(h).squeeze(-1), "severity": self.severity(h), "categories": self.categories(h)}
        if labels_unsafe is not None:
            out["loss"] = guard_loss(
                out, labels_unsafe, labels_severity, labels_categories, categories_mask, self.pos_weight
            )
        return out


def guard_loss(
    out: dict[str, torch.Tensor],
    unsafe: torch.Tensor,
    severity: Optional[torch.Tensor] = None,
    categories: Optional[torch.Tensor] = None,
    categories_mask: Optional[torch.Tensor] = None,
    pos_weight: float = 1.0,
    aux_weight: float = 0.5,
) -> torch.Tensor:
    """BCE on unsafe (unsafe items weighted by ``pos_weight``) + ``aux_weight`` x (cross-entropy on the severity of
    unsafe items with a known severity, label -100 = unknown; BCE on the categories of unsafe items with known
    categories, averaged over categories, then over the masked items)."""
    pw = torch.tensor(pos_weight, dtype=out["unsafe"].dtype)
    loss = nn.functional.binary_cross_entropy_with_logits(out["unsafe"], unsafe.to(out["unsafe"].dtype), pos_weight=pw)
    if severity is not None and (severity >= 0).any():
        loss = loss + aux_weight * nn.functional.cross_entropy(out["severity"], severity, ignore_index=-100)
    if categories is not None and categories_mask is not None and categories_mask.sum() > 0:
        per = nn.functional.binary_cross_entropy_with_logits(out["categories"], categories, reduction="none").mean(-1)
        loss = loss + aux_weight * (per * categories_mask).sum() / categories_mask.sum()
    return loss


def encode_items(tokenizer: Any, items: Sequence[tuple[str, Optional[str]]], max_length: int) -> list[dict[str, Any]]:
    """Tokenize (prompt, response or None) items: a prompt alone, or the pair truncated longest-first. One dict of
    token lists per item, in order (``tokenizer.pad`` batches them)."""
    rows: list[dict[str, Any]] = [{} for _ in items]
    for has_response in (False, True):
        idx = [i for i, (_, r) in enumerate(items) if (r is not None) == has_response]
        if not idx:
            continue
        prompts = [items[i][0] or " " for i in idx]
        if has_response:
            answers = [items[i][1] or " " for i in idx]
            enc = tokenizer(prompts, answers, truncation="longest_first", max_length=max_length)
        else:
            enc = tokenizer(prompts, truncation=True, max_length=max_length)
        for j, i in enumerate(idx):
            rows[i] = {k: enc[k][j] for k in enc.keys()}
    return rows


class EncoderGuard(BaseGuard):
    """The fine-tuned guard (see the module doc). ``thresholds``: {"prompt": t, "response": t}."""

    name = "finetuned"

    def __init__(
        self,
        model: GuardEncoder,
        tokenizer: Any,
        categories: list[str],
        temperature: float = 1.0,
        thresholds: Optional[dict[str, float]] = None,
        max_length: int = 256,
        category_threshold: float = 0.5,
        metrics: Optional[dict[str, Any]] = None,
        batch_size: int = 32,
    ):
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.categories = list(categories)
        self.temperature = float(temperature)
        self.thresholds = {"prompt": 0.5, "response": 0.5, **(thresholds or {})}
        self.max_length = int(max_length)
        self.category_threshold = float(category_threshold)
        self.metrics = metrics or {}
        self.batch_size = batch_size
        self._lock = threading.Lock()  # one forward at a time (the server calls from several threads)

    def threshold_for(self, response: Optional[str]) -> float:
        return self.thresholds["prompt" if response is None else "response"]

    @torch.no_grad()
    def logits(self, items: Sequence[tuple[str, Optional[str]]]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Raw (unsafe [N], severity [N, 3], categories [N, K]) logits, batched by length."""
        n = len(items)
        u, s, c = torch.zeros(n), torch.zeros(n, 3), torch.zeros(n, len(self.categories))
        order = sorted(range(n), key=lambda i: len(items[i][0]) + len(items[i][1] or ""))
        with self._lock:
            for b in range(0, n, self.batch_size):
                idx = order[b : b + self.batch_size]
                enc = encode_items(self.tokenizer, [items[i] for i in idx], self.max_length)
                batch = self.tokenizer.pad(enc, return_tensors="pt")
                out = self.model(**{k: batch[k] for k in TOKEN_KEYS if k in batch})
                u[idx], s[idx], c[idx] = out["unsafe"].float(), out["severity"].float(), out["categories"].float()
        return u, s, c

    def probabilities(self, items: Sequence[tuple[str, Optional[str]]]) -> torch.Tensor:
        """Calibrated P(unsafe) [N]."""
        return torch.sigmoid(self.logits(items)[0] / self.temperature)

    def classify_batch(self, items: Sequence[GuardItem]) -> list[GuardVerdict]:
        if not items:
            return []
        t0 = time.perf_counter()
        pairs = [(p, r) for p, r, _ in items]
        u, s, c = self.logits(pairs)
        p_unsafe, p_sev, p_cat = torch.sigmoid(u / self.temperature), torch.softmax(s, -1), torch.sigmoid(c)
        ms = (time.perf_counter() - t0) * 1000 / len(items)
        out = []
        for i, (_, r) in enumerate(pairs):
            v = verdict_from_probs(
                float(p_unsafe[i]), p_sev[i], p_cat[i], self.categories, self.threshold_for(r), self.name,
                self.category_threshold,
            )
            v.latency_ms = ms
            out.append(v)
        return out

    # -------------------------------------------------------------------------------------------- io
    def config(self) -> dict[str, Any]:
        return {
            "format": FORMAT, "kind": KIND, "categories": self.categories, "temperature": self.temperature,
            "thresholds": self.thresholds, "max_length": self.max_length, "category_threshold": self.category_threshold,
            "metrics": self.metrics,
        }

    def save(self, path: str | Path) -> None:
        """Atomic: the folder appears complete or not at all."""
        from safetensors.torch import save_file

        with atomic_dir(path) as tmp:
            self.model.encoder.save_pretrained(tmp / ENCODER_DIR)
            self.tokenizer.save_pretrained(tmp / ENCODER_DIR)
            save_file({k: v.contiguous() for k, v in self.model.heads_state().items()}, str(tmp / HEADS_FILE))
            (tmp / GUARD_CONFIG).write_text(json.dumps(self.config(), indent=2))

    @classmethod
    def load(cls, path: str | Path) -> "EncoderGuard":
        from safetensors.torch import load_file
        from transformers import AutoModel, AutoTokenizer

        path = Path(path)
        cfg_file = path / GUARD_CONFIG
        if not cfg_file.exists() or not (path / ENCODER_DIR).is_dir():
            raise ModelNotFoundError(
                f"not a fine-tuned safealign guard (no {GUARD_CONFIG} or {ENCODER_DIR}/): {path} — train one with "
                "`safealign train guard`"
            )
        cfg = json.loads(cfg_file.read_text())
        encoder = AutoModel.from_pretrained(path / ENCODER_DIR, dtype=torch.float32)
        model = GuardEncoder(encoder, len(cfg["categories"]))
        missing, unexpected = model.load_state_dict(load_file(str(path / HEADS_FILE)), strict=False)
        if unexpected or any(not k.startswith("encoder.") for k in missing):
            raise ModelNotFoundError(f"{path / HEADS_FILE}: heads do not match the guard's config")
        tokenizer = AutoTokenizer.from_pretrained(path / ENCODER_DIR)
        return cls(
            model, tokenizer, cfg["categories"], cfg.get("temperature", 1.0), cfg.get("thresholds"),
            cfg.get("max_length", 256), cfg.get("category_threshold", 0.5), cfg.get("metrics"),
        )


def is_encoder_guard(path: str | Path) -> bool:
    cfg = Path(path) / GUARD_CONFIG
    if not cfg.exists():
        return False
    try:
        return json.loads(cfg.read_text()).get("kind") == KIND
    except (OSError, json.JSONDecodeError):
        return False
