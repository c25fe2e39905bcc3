"""Running part of a decoder's layer stack, and frozen lower layers shared by several models.

One mechanism, three users:

- ``train_mode: top`` of the score trainer and ``critic_mode: top`` of the PPO critics run only the top k layers +
  final norm + score head on cached states entering them (:class:`CachedTopScorer`);
- PPO scoring (``share_frozen_trunk``) runs the layers the reference, R and C hold bit-identically (the embeddings and
  layers ``0..K-1``, found once by :func:`shared_depth`) ONCE per rollout (:meth:`TrunkStates.compute`), then each
  model only its own layers ``K..n-1`` + final norm (:meth:`TrunkStates.finish`).

States enter the decoder as ``inputs_embeds`` and the decoder builds its attention mask and rotary tables from the
attention mask and position ids as in a full forward, so a split run computes what the full forward computes. The
layer list is swapped for a slice only for the duration of one call (:func:`layer_slice`); hidden states are never
captured through ``output_hidden_states`` during a slice (transformers installs its capture hooks on whatever layers
it sees first): a state in the middle of a stack comes from splitting the run there instead.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import chain
from typing import Any, Iterator, Optional, Sequence

import torch
from torch import nn

from safealign.errors import ConfigError
from safealign.models.score import ScoreModel, base_of, position_ids_from_mask


def decoder_layers(model: nn.Module) -> tuple[nn.Module, nn.ModuleList]:
    """(text decoder, its layer list) of a causal-LM trunk or a LLaVA-style trunk, a ``*ForCausalLM`` model or a peft
    model wrapping one of these."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    for cand in (base, base_of(base)):
        lm = getattr(cand, "language_model", None) or cand
        if isinstance(getattr(lm, "layers", None), nn.ModuleList):
            return lm, lm.layers
    raise ConfigError(
        f"cannot find the decoder layers of {type(base).__name__} (top-layer training and trunk sharing need them)"
    )


@contextmanager
def layer_slice(lm: nn.Module, start: int, end: Optional[int] = None, final_norm: bool = True) -> Iterator[None]:
    """Temporarily make the decoder ``lm`` run only ``layers[start:end]``, followed by its final norm only when
    ``final_norm`` (its inputs are then the states entering layer ``start``)."""
    full, norm = lm.layers, getattr(lm, "norm", None)
    lm.layers = nn.ModuleList(list(full)[start:end])
    if not final_norm and norm is not None:
        lm.norm = nn.Identity()
    try:
        yield
    finally:
        lm.layers = full
        if norm is not None:
            lm.norm = norm


def run_layers(
    lm: nn.Module,
    attention_mask: torch.Tensor,
    position_ids: torch.Tensor,
    *,
    input_ids: Optional[torch.Tensor] = None,
    hidden: Optional[torch.Tensor] = None,
    start: int = 0,
    end: Optional[int] = None,
    final_norm: bool = True,
) -> torch.Tensor:
    """``layers[start:end]`` (+ final norm) of the decoder ``lm`` on ``hidden`` (the states entering layer ``start``)
    or, with ``start == 0``, on the embeddings of ``input_ids``.  -> [B, L, H]"""
    if (input_ids is None) == (hidden is None) or (input_ids is not None and start != 0):
        raise ValueError("run_layers takes input_ids (start=0) or the hidden states entering layer start")
    inputs = {"input_ids": input_ids} if input_ids is not None else {"inputs_embeds": hidden}
    with layer_slice(lm, start, end, final_norm):
        out = lm(**inputs, attention_mask=attention_mask, position_ids=position_ids, use_cache=False)
    return out.last_hidden_state if hasattr(out, "last_hidden_state") else out[0]


class CachedTopScorer(nn.Module):
    """Scores cached hidden states: the top ``k`` decoder layers + final norm (k > 0) + the score head."""

    def __init__(self, score_model: ScoreModel, k: int):
        super().__init__()
        self.score_model = score_model
        self.k = k

    def forward(
        self, hidden: torch.Tensor, attention_mask: torch.Tensor, position_ids: Optional[torch.Tensor] = None
    ) -> Any:
        if self.k > 0:
            lm, layers = decoder_layers(self.score_model.backbone)
            pos = position_ids if position_ids is not None else position_ids_from_mask(attention_mask)
            hidden = run_layers(lm, attention_mask, pos, hidden=hidden, start=len(layers) - self.k)
        return self.score_model.forward_hidden(hidden, attention_mask)


# ------------------------------------------------------------------------------------------ shared trunk
# settings of a decoder that change what its layers compute without showing in their weights
_ARCH_KEYS = (
    "model_type", "hidden_size", "num_attention_heads", "num_key_value_heads", "head_dim", "hidden_act", "rms_norm_eps",
    "layer_norm_eps", "rope_theta", "rope_scaling", "rope_parameters", "partial_rotary_factor", "attention_bias",
    "mlp_bias", "sliding_window", "use_sliding_window", "max_window_layers", "layer_types", "attn_logit_softcapping",
    "query_pre_attn_scalar", "pretraining_tp", "embedding_multiplier", "attention_multiplier", "residual_multiplier",
    "_attn_implementation",
)


def _base_view(module: nn.Module) -> dict[str, torch.Tensor]:
    """Parameters and buffers of ``module`` as the base model computes with them: a LoRA layer's ``base_layer`` (and a
    peft ``original_module``) under the plain name, the adapter's own tensors left out. A disabled adapter computes
    exactly with these."""
    out: dict[str, torch.Tensor] = {}
    for name, t in chain(module.named_parameters(), module.named_buffers()):
        parts = name.split(".")
        if "modules_to_save" in parts or any(p.startswith("lora_") for p in parts):
            continue
        out[".".join(p for p in parts if p not in ("base_layer", "original_module"))] = t
    return out


def _same_tensors(views: Sequence[dict[str, torch.Tensor]]) -> bool:
    first = views[0]
    for other in views[1:]:
        if other.keys() != first.keys():
            return False
        for name, a in first.items():
            b = other[name]
            if a is b:
                continue
            if a.shape != b.shape or a.dtype != b.dtype or a.device != b.device or not torch.equal(a, b):
                return False
    return True


def shared_depth(decoders: Sequence[nn.Module]) -> int:
    """The largest K such that the decoders (as :func:`decoder_layers` returns them; LoRA layers count with their base
    weights) hold the same settings, embeddings and rotary tables and bit-identical layers ``0..K-1``; 0 when they
    do not. One ``torch.equal`` per tensor, layer by layer, stopping at the first difference."""
    if len(decoders) < 2:
        return 0
    cfgs = [getattr(lm, "config", None) for lm in decoders]
    if any(getattr(c, k, None) != getattr(cfgs[0], k, None) for c in cfgs[1:] for k in _ARCH_KEYS):
        return 0
    below = []  # everything outside the layer stack and the final norm (embeddings, rotary tables)
    for lm in decoders:
        view = _base_view(lm)
        below.append({k: v for k, v in view.items() if not k.startswith(("layers.", "norm."))})
    if not _same_tensors(below):
        return 0
    stacks = [decoder_layers(lm)[1] for lm in decoders]
    depth = 0
    for i in range(min(len(s) for s in stacks)):
        if not _same_tensors([_base_view(s[i]) for s in stacks]):
            break
        depth = i + 1
    return depth


@dataclass
class TrunkStates:
    """The states entering layer ``depth`` (every position) of a layer stack that several models share, computed once;
    ``kept[j]``: the states entering an earlier layer j, kept on request (a top critic reading below ``depth``)."""

    depth: int
    hidden: torch.Tensor  # [B, L, H]
    attention_mask: torch.Tensor
    position_ids: torch.Tensor
    kept: dict[int, torch.Tensor] = field(default_factory=dict)

    @classmethod
    def compute(
        cls,
        lm: nn.Module,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        position_ids: torch.Tensor,
        depth: int,
        keep: Sequence[int] = (),
    ) -> "TrunkStates":
        """Embeddings + ``layers[:depth]`` of the decoder ``lm``, no final norm (split where ``keep`` asks)."""
        cuts = sorted({j for j in keep if 0 <= j < depth})
        kept: dict[int, torch.Tensor] = {}
        x: Optional[torch.Tensor] = None
        start = 0
        for stop in cuts + [depth]:
            src = {"input_ids": input_ids} if x is None else {"hidden": x}
            x = run_layers(lm, attention_mask, position_ids, **src, start=start, end=stop, final_norm=False)
            if stop < depth:
                kept[stop] = x
            start = stop
        assert x is not None
        return cls(depth, x, attention_mask, position_ids, kept)

    def finish(self, lm: nn.Module, keep_at: Optional[int] = None) -> tuple[torch.Tensor, Optional[torch.Tensor]]:
        """The decoder ``lm``'s own layers ``depth..n-1`` + final norm on the shared states: (final states, the states
        entering layer ``keep_at`` or None)."""
        mask, pos = self.attention_mask, self.position_ids
        if keep_at is None or keep_at <= self.depth:
            kept = None if keep_at is None else (self.hidden if keep_at == self.depth else self.kept[keep_at])
            return run_layers(lm, mask, pos, hidden=self.hidden, start=self.depth), kept
        mid = run_layers(lm, mask, pos, hidden=self.hidden, start=self.depth, end=keep_at, final_norm=False)
        return run_layers(lm, mask, pos, hidden=mid, start=keep_at), mid


__all__ = ["CachedTopScorer", "TrunkStates", "decoder_layers", "layer_slice", "run_layers", "shared_depth"]
