"""PPO-Lagrangian's policy: the actor loaded from a name (a causal LM, or an image+text model with its processor) and
made trainable: LoRA adapters (the reference is then the adapter-disabled base, no second copy) or full fine-tuning
beside a frozen reference copy (a vision tower and projector stay frozen); for rollouts, the LoRA adapters merged into
the base weights (:func:`merged_lora`)."""

from __future__ import annotations

import json
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Optional


def load_actor(name: str, chat_template: str = "auto") -> tuple[Any, Any]:
    """(model, tokenizer or processor) of 'default', a hub id or a path; ``chat_template``: see
    :mod:`safealign.models.chat_templates`."""
    from safealign.models.chat_templates import use_chat_template
    from safealign.models.loading import default_dtype, load_causal_lm, load_tokenizer, resolve_model

    path = resolve_model(name)
    cfg_file = Path(path) / "config.json"
    if cfg_file.exists() and "vision_config" in json.loads(cfg_file.read_text()):
        from transformers import AutoModelForImageTextToText, AutoProcessor

        model = AutoModelForImageTextToText.from_pretrained(path, dtype=default_dtype())
        return model, use_chat_template(AutoProcessor.from_pretrained(path), chat_template)
    return load_causal_lm(name), load_tokenizer(name, padding_side="left", chat_template=chat_template)


def trainable_actor(actor: Any, cfg: Any, vision: bool) -> tuple[Any, Optional[Any]]:
    """(the actor in training mode, the frozen reference copy or None with LoRA) as ``cfg.use_lora`` says."""
    ref_model = None
    if cfg.use_lora:
        actor = add_lora(actor, cfg, vision)
    else:
        import copy

        ref_model = copy.deepcopy(actor).eval().requires_grad_(False)
        if vision:
            for name, p in actor.named_parameters():
                if "vision_tower" in name or "multi_modal_projector" in name:
                    p.requires_grad_(False)
    actor.train()
    return actor, ref_model


def add_lora(actor: Any, cfg: Any, vision: bool) -> Any:
    """LoRA adapters on ``cfg.lora_target_modules``: 'auto' = every linear layer of the language model."""
    from peft import LoraConfig, get_peft_model

    target: Any = cfg.lora_target_modules
    if target == "auto":
        target = (
            r".*language_model.*\.(q_proj|k_proj|v_proj|o_proj|gate_proj|up_proj|down_proj)"
            if vision
            else "all-linear"
        )
    elif "," in target:
        target = [t.strip() for t in target.split(",") if t.strip()]
    lcfg = LoraConfig(
        r=cfg.lora_r, lora_alpha=cfg.lora_alpha, lora_dropout=cfg.lora_dropout, target_modules=target,
        task_type="CAUSAL_LM",
    )
    return get_peft_model(actor, lcfg)


@contextmanager
def merged_lora(model: Any) -> Iterator[Any]:
    """The model with its active LoRA adapters merged into the base weights for the duration (one matmul per layer
    instead of three: a rollout decodes through the base layers alone), then the base weights restored EXACTLY.

    Each base weight W is swapped for a new tensor W + scale * B A while the adapters are disabled (the layers then
    run their base layer alone), and the original tensor is put back afterwards: no rounding of W + BA - BA ever reaches
    the reference policy (the adapter-disabled base), and nothing is cloned or checked besides the one new tensor per
    layer. Yielded as it is: any other model, and adapters other than plain LoRA on linear layers (DoRA and other
    variants, a LoRA bias, convolutions, embeddings), where W + BA is not the whole adapter."""
    import torch
    from peft import PeftModel
    from peft.tuners.lora import Linear as LoraLinear
    from peft.tuners.tuners_utils import BaseTunerLayer

    layers = [m for m in model.modules() if isinstance(m, BaseTunerLayer)] if isinstance(model, PeftModel) else []
    plain = all(
        isinstance(m, LoraLinear)
        and not m.merged
        and not any(m.lora_variant.get(a) or m.lora_bias.get(a) for a in m.active_adapters)
        for m in layers
    )
    if not layers or not plain:
        yield model
        return
    kept = []
    with torch.no_grad():
        for m in layers:
            weight = m.get_base_layer().weight
            merged = weight.data
            for name in m.active_adapters:
                if name not in m.lora_A:
                    continue
                a, b = m.lora_A[name].weight, m.lora_B[name].weight
                if m.fan_in_fan_out or a.dtype != merged.dtype:
                    merged = merged + m.get_delta_weight(name).to(merged.dtype)
                else:  # W + scale * B A in one new tensor
                    merged = torch.addmm(merged, b, a, alpha=m.scaling[name])
            kept.append((weight, weight.data))
            weight.data = merged
    try:
        with model.disable_adapter():
            yield model
    finally:
        for weight, data in kept:
            weight.data = data


def gradient_checkpointing(model: Any) -> None:
    """Recompute a transformers model's decoder layers in the backward pass (non-reentrant: no input needs a gradient,
    and nothing changes under ``no_grad`` or in eval mode, where generation runs)."""
    model.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})
