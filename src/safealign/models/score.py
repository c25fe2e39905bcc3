"""Score models: a causal-LM or vision-language backbone + a linear head giving a score per token.

The sequence score is the head's output at the LAST NON-PAD token (index from the attention mask, correct for
left and right padding). ``num_outputs > 1`` gives one score per named output (e.g. per harm category); the
first output is the overall score.

Saved layout (Hugging Face style, reloadable with one call :meth:`ScoreModel.from_pretrained`):
    PATH/config.json, PATH/model.safetensors ...   the backbone (``save_pretrained`` of the base model)
    PATH/score_head.safetensors                      the head
    PATH/score_config.json                           :class:`ScoreConfig` (kind, threshold, normaliser, outputs)
    PATH/tokenizer files / processor files           when given to :meth:`save_pretrained`
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal, Optional, Sequence

import torch
from torch import nn

from safealign.losses import last_token_index
from safealign.models.conversation import encode_conversations
from safealign.utils.atomic import atomic_dir

SCORE_CONFIG = "score_config.json"
HEAD_FILE = "score_head.safetensors"


@dataclass
class ScoreConfig:
    kind: Literal["reward", "cost", "value"] = "reward"
    threshold: float = 0.0  # cost: > threshold means unsafe
    normalizer_mean: float = 0.0  # scores are reported as (raw - mean) / std; the sign-preserving default is 0/1
    normalizer_std: float = 1.0
    output_names: list[str] = field(default_factory=lambda: ["score"])
    base_model: Optional[str] = None  # where the backbone came from (informational)
    is_vision: bool = False

    @property
    def num_outputs(self) -> int:
        return len(self.output_names)


@dataclass
class ScoreOutput:
    end_scores: torch.Tensor  # [B, K] scores at the last non-pad token
    token_scores: torch.Tensor  # [B, L, K] per-token scores (critics read these)
    end_index: torch.Tensor  # [B]

    @property
    def scores(self) -> torch.Tensor:
        """[B] the first (overall) output at the last non-pad token."""
        return self.end_scores[:, 0]


def base_of(model: nn.Module) -> nn.Module:
    """The trunk of a CausalLM / LLaVA model (``model.model``), or the model itself if it already is one."""
    base = getattr(model, "base_model", None)
    return base if isinstance(base, nn.Module) and base is not model else model


class ScoreModel(nn.Module):
    def __init__(self, backbone: nn.Module, config: Optional[ScoreConfig] = None):
        super().__init__()
        self.backbone = base_of(backbone)
        self.score_config = config or ScoreConfig()
        hidden = _hidden_size(self.backbone.config)
        self.head = nn.Linear(hidden, self.score_config.num_outputs, bias=True)
        nn.init.normal_(self.head.weight, std=1.0 / (hidden + 1) ** 0.5)
        nn.init.zeros_(self.head.bias)
        self.head.to(next(self.backbone.parameters()).dtype)

    @property
    def config(self) -> Any:  # the backbone's HF config (peft and accelerate look for .config)
        return self.backbone.config

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        pixel_values: Optional[torch.Tensor] = None,
        **kwargs: Any,
    ) -> ScoreOutput:
        extra = {"pixel_values": pixel_values} if pixel_values is not None else {}
        if kwargs.get("position_ids") is None:
            # positions from the mask: a sequence gets the same positions (hence the same score) whether it is
            # left- or right-padded; HF decoders otherwise number positions 0..L-1 across the left padding
            kwargs["position_ids"] = position_ids_from_mask(attention_mask)
        out = self.backbone(input_ids=input_ids, attention_mask=attention_mask, use_cache=False, **extra, **kwargs)
        hidden = out.last_hidden_state if hasattr(out, "last_hidden_state") else out[0]  # [B, L, H]
        return self.forward_hidden(hidden, attention_mask)

    def forward_hidden(self, hidden: torch.Tensor, attention_mask: torch.Tensor) -> ScoreOutput:
        """Head + normaliser + last-non-pad read-out on the trunk's final hidden states [B, L, H]."""
        token_scores = self.head(hidden.to(self.head.weight.dtype)).float()  # [B, L, K]
        token_scores = (token_scores - self.score_config.normalizer_mean) / self.score_config.normalizer_std
        idx = last_token_index(attention_mask)  # [B]
        end = token_scores[torch.arange(token_scores.size(0), device=idx.device), idx]  # [B, K]
        return ScoreOutput(end_scores=end, token_scores=token_scores, end_index=idx)

    def freeze_vision_tower(self) -> None:
        for name in ("vision_tower", "multi_modal_projector"):
            mod = getattr(self.backbone, name, None)
            if mod is not None:
                mod.requires_grad_(False)

    # ------------------------------------------------------------------------------------------------ save/load
    def save_pretrained(self, path: str | Path, processing_class: Any = None) -> None:
        """Atomic: the folder appears complete or not at all."""
        with atomic_dir(path) as tmp:
            self.write_into(tmp, processing_class)

    def write_into(
        self, folder: str | Path, processing_class: Any = None, state_dict: Optional[dict[str, torch.Tensor]] = None
    ) -> None:
        """Write the model files into an existing folder (non-atomic; :meth:`save_pretrained` wraps it).
        ``state_dict``: this model's full weights (``backbone.*``, ``head.*``) to write instead of the parameters it
        holds, e.g. gathered from shards (FSDP / ZeRO-3)."""
        from safetensors.torch import save_file

        folder = Path(folder)
        backbone = self.backbone
        if hasattr(backbone, "merge_and_unload") and hasattr(backbone, "peft_config"):
            if state_dict is not None:
                raise ValueError(
                    "a LoRA backbone is merged before saving, which needs its weights in place, not a state_dict"
                )
            backbone = backbone.merge_and_unload()  # a LoRA backbone is saved merged (plain HF weights)
            self.backbone = backbone
        if state_dict is None:
            backbone.save_pretrained(folder)
            head = self.head.state_dict()
        else:
            backbone.save_pretrained(
                folder,
                state_dict={k[len("backbone.") :]: v for k, v in state_dict.items() if k.startswith("backbone.")},
            )
            head = {k[len("head.") :]: v for k, v in state_dict.items() if k.startswith("head.")}
        save_file({k: v.detach().contiguous().cpu() for k, v in head.items()}, str(folder / HEAD_FILE))
        (folder / SCORE_CONFIG).write_text(json.dumps(asdict(self.score_config), indent=2))
        if processing_class is not None:
            processing_class.save_pretrained(folder)

    @classmethod
    def from_pretrained(
        cls, path: str | Path, dtype: Optional[torch.dtype] = None, device: Optional[str] = None
    ) -> "ScoreModel":
        from safetensors.torch import load_file
        from transformers import AutoModel

        from safealign.errors import ModelNotFoundError

        path = Path(path)
        if not (path / SCORE_CONFIG).exists():
            raise ModelNotFoundError(f"not a safealign score model (no {SCORE_CONFIG}): {path}")
        cfg_dict = json.loads((path / SCORE_CONFIG).read_text())
        cfg = ScoreConfig(**cfg_dict)
        backbone = AutoModel.from_pretrained(path, dtype=dtype or torch.float32)
        model = cls(backbone, cfg)
        model.head.load_state_dict(load_file(str(path / HEAD_FILE)))
        if device:
            model.to(device)
        return model.eval()

    @classmethod
    def from_backbone(
        cls, name_or_path: Optional[str], config: Optional[ScoreConfig] = None, dtype: Optional[torch.dtype] = None
    ) -> "ScoreModel":
        """A fresh score model (random head) on a pretrained backbone (default model, hub id or path)."""
        from transformers import AutoModel

        from safealign.models.loading import default_dtype, resolve_model

        path = resolve_model(name_or_path)
        backbone = AutoModel.from_pretrained(path, dtype=dtype or default_dtype())
        cfg = config or ScoreConfig()
        cfg.base_model = name_or_path or "default"
        cfg.is_vision = hasattr(base_of(backbone), "vision_tower")
        return cls(backbone, cfg)


def position_ids_from_mask(attention_mask: torch.Tensor) -> torch.Tensor:
    """0, 1, 2, ... over the real tokens of each row (pads get 0).  [B, L] -> [B, L] long"""
    return (attention_mask.long().cumsum(-1) - 1).clamp_min(0)


def load_score_model(
    path: str | Path, dtype: Optional[torch.dtype] = None, device: Optional[str] = None
) -> tuple["ScoreModel", Any]:
    """(model, processing_class) from a saved score model folder in one call; the tokenizer (text) or processor
    (vision) saved beside it, else the base model's tokenizer."""
    model = ScoreModel.from_pretrained(path, dtype=dtype, device=device)
    return model, load_processing_class(path, model.score_config)


def load_processing_class(path: str | Path, config: Optional[ScoreConfig] = None) -> Any:
    from safealign.errors import ModelNotFoundError
    from safealign.models.loading import load_tokenizer

    if config is not None and config.is_vision:
        from transformers import AutoProcessor

        try:
            return AutoProcessor.from_pretrained(str(path))
        except (OSError, ValueError) as e:
            raise ModelNotFoundError(f"no processor saved with the vision score model at {path}: {e}") from None
    try:
        return load_tokenizer(str(path), padding_side="right")
    except Exception:  # noqa: BLE001 - saved without tokenizer files: fall back to the base model's
        if config is None or not config.base_model:
            raise
        return load_tokenizer(config.base_model, padding_side="right")


def score_texts(
    model: "ScoreModel",
    processing_class: Any,
    prompts: Sequence[str],
    responses: Sequence[Optional[str]],
    systems: Optional[Sequence[Optional[str]]] = None,
    images: Optional[Sequence[Any]] = None,
    batch_size: int = 8,
    max_length: int = 1024,
    all_outputs: bool = False,
    progress: Optional[Any] = None,
) -> torch.Tensor:
    """Scores of (system?, prompt, response[, image]) in the training format, batched, no grad.

    Returns [N] (the overall score) or [N, K] with ``all_outputs``. A ``None`` response scores the prompt alone
    (guards use it). ``progress(done, total)`` is called after each batch.
    """
    n = len(prompts)
    if len(responses) != n:
        raise ValueError(f"{n} prompts but {len(responses)} responses")
    systems = list(systems) if systems is not None else [None] * n
    imgs = list(images) if images is not None else [None] * n
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    out: list[torch.Tensor] = []
    try:
        with torch.no_grad():
            for s in range(0, n, batch_size):
                sl = slice(s, s + batch_size)
                batch = encode_conversations(
                    processing_class, prompts[sl], responses[sl], systems[sl], imgs[sl], max_length=max_length
                )
                batch = {k: v.to(device) for k, v in batch.items()}
                if "pixel_values" in batch:
                    batch["pixel_values"] = batch["pixel_values"].to(next(model.parameters()).dtype)
                res = model(**batch)
                out.append((res.end_scores if all_outputs else res.scores).float().cpu())
                if progress is not None:
                    progress(min(s + batch_size, n), n)
    finally:
        model.train(was_training)
    if not out:
        return torch.zeros((0, model.score_config.num_outputs) if all_outputs else (0,))
    return torch.cat(out)


def score_pairs(
    model: "ScoreModel",
    processing_class: Any,
    pairs: Sequence[Any],
    batch_size: int = 8,
    max_length: int = 1024,
    progress: Optional[Any] = None,
) -> torch.Tensor:
    """Scores of both responses of each SafetyPair: [N, 2] (column i = response i)."""
    prompts, responses, systems, images = [], [], [], []
    for p in pairs:
        for r in p.responses:
            prompts.append(p.prompt)
            responses.append(r)
            systems.append(p.system)
            images.append(p.image)
    flat = score_texts(
        model, processing_class, prompts, responses, systems, images, batch_size=batch_size, max_length=max_length,
        progress=progress,
    )
    return flat.view(-1, 2)


def _hidden_size(cfg: Any) -> int:
    if hasattr(cfg, "text_config") and cfg.text_config is not None:
        return cfg.text_config.hidden_size
    return cfg.hidden_size
