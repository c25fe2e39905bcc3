"""Tiny random models of real model families, with the chat templates and special tokens users actually bring.

Each family is described by a fixture, ``safealign/models/family_fixtures/<family>.json``: the published chat template
(exact string), the special tokens with their real ids, bos/eos/pad settings, the architecture and, for vision-language
models, the processor's image-token settings, each with where it came from (``source``) and what could not be confirmed
(``unknown``). ``expect`` pins what the real template does with a marker conversation (see
tests/test_families_fixtures.py).

From a fixture this module builds, in memory and seeded, in about a second:

* :func:`tiny_tokenizer` - a byte-level BPE tokenizer (the 256 byte symbols, no merges) that carries the family's
  special tokens as single ids (in the order of their real ids), its bos/eos/pad/unk tokens, whether encoding adds
  BOS/EOS, its padding side and its chat template. Text the template writes that is not a special token of the real
  tokenizer (Llama-2's ``[INST]``, LLaVA's ``USER:``) stays plain text here too.
* :func:`tiny_model` - a randomly initialised model of the family's architecture (2 layers, hidden 32), with a tiny
  vision tower for the vision-language families and generation EOS ids mapped from the real ones.
* :func:`tiny_processor` - the family's processor and image-processor classes at a small image size, so that an
  image becomes a handful of image tokens through the real processor's expansion rule.

No hub access: everything is built from the fixture. The fixtures are package data (the dry runs of
:mod:`safealign.dryrun` use them outside a checkout); ``SAFEALIGN_FAMILY_FIXTURES`` points elsewhere. :func:`family_of`
maps a model name (the default model, a hub id of the family or of its base checkpoint) to its family."""

from __future__ import annotations

import json
import os
from functools import lru_cache
from pathlib import Path
from typing import Any, Union

import torch

Family = Union[str, dict]

IMAGE_SIZE = 16  # pixels per side of the tiny vision towers' input (and of the test images)
PATCH_SIZE = 8  # LLaVA / LLaVA-NeXT CLIP patch: (16 / 8)^2 = 4 patches
QWEN_PATCH_SIZE = 4  # Qwen2-VL patch (merge 2, temporal 2): a 16x16 image is a 4x4 grid, 4 tokens after merging
HIDDEN, LAYERS, HEADS, KV_HEADS = 32, 2, 4, 2


def fixtures_dir() -> Path:
    """Where the family fixtures are: ``$SAFEALIGN_FAMILY_FIXTURES`` or the package's family_fixtures folder."""
    env = os.environ.get("SAFEALIGN_FAMILY_FIXTURES")
    return Path(env) if env else Path(__file__).resolve().parent / "family_fixtures"


def family_names() -> list[str]:
    """The families with a fixture, sorted."""
    return sorted(p.stem for p in fixtures_dir().glob("*.json"))


@lru_cache(maxsize=None)
def _read(path: Path) -> str:
    return path.read_text()


def load_family(name: str) -> dict[str, Any]:
    """The fixture of family ``name`` as a dict (a fresh copy each call)."""
    path = fixtures_dir() / f"{name}.json"
    if not path.is_file():
        raise KeyError(f"no family fixture {name!r} in {fixtures_dir()} (known: {', '.join(family_names()) or 'none'})")
    return json.loads(_read(path))


def family_of(name: str) -> tuple[str, bool]:
    """(family, is a base checkpoint) of a model name: the default model (SmolLM2-135M-Instruct), a family's hub id, or
    the hub id of its base checkpoint (``base_hub_ids``: published without a chat template). KeyError otherwise."""
    from safealign.models.loading import is_default

    if is_default(name):
        return "smollm2", False
    for fam in family_names():
        fx = load_family(fam)
        if name == fx["hub_id"]:
            return fam, False
        if name in fx.get("base_hub_ids", []):
            return fam, True
    raise KeyError(f"no family fixture for model {name!r} (known: the default model, "
                   f"{', '.join(load_family(f)['hub_id'] for f in family_names())} and their base checkpoints)")


def _fixture(family: Family) -> dict[str, Any]:
    return load_family(family) if isinstance(family, str) else family


def is_vision(family: Family) -> bool:
    """True for a vision-language family (its fixture has image-token settings)."""
    return "vision" in _fixture(family)


# ------------------------------------------------------------------------------------------------ tokenizer


def tiny_tokenizer(family: Family, padding_side: str | None = None) -> Any:
    """A fast byte-level tokenizer with the family's special tokens, settings and chat template (see module doc).

    ``padding_side``: overrides the family's (whose default, when the repo sets none, is transformers' "right"). An
    ``add_bos_token`` the fixture lists as unknown (null) counts as false."""
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    fx = _fixture(family)
    specials = [tok for tok, _ in sorted(fx["special_tokens"].items(), key=lambda kv: kv[1])]
    vocab = {tok: i for i, tok in enumerate(specials)}
    for ch in sorted(pre_tokenizers.ByteLevel.alphabet()):
        vocab[ch] = len(vocab)
    backend = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    backend.add_special_tokens([AddedToken(tok, special=True, normalized=False) for tok in specials])
    named = {key: fx[key] for key in ("bos_token", "eos_token", "pad_token", "unk_token") if fx.get(key)}
    extra = [tok for tok in specials if tok not in named.values()]
    tok = PreTrainedTokenizerFast(
        tokenizer_object=backend,
        add_bos_token=bool(fx.get("add_bos_token")),
        add_eos_token=bool(fx.get("add_eos_token")),
        additional_special_tokens=extra,
        **named,
    )
    tok.chat_template = fx["chat_template"]
    tok.padding_side = padding_side or fx.get("padding_side") or "right"
    return tok


def token_id(tok: Any, real_id: int, fx: dict[str, Any]) -> int:
    """The tiny tokenizer's id of the special token whose id is ``real_id`` in the real tokenizer."""
    by_real = {v: k for k, v in fx["special_tokens"].items()}
    return tok.convert_tokens_to_ids(by_real[real_id])


# ------------------------------------------------------------------------------------------------ models


def _text_kwargs(tok: Any, hidden: int, layers: int) -> dict[str, Any]:
    return dict(
        vocab_size=len(tok), hidden_size=hidden, intermediate_size=hidden * 2, num_hidden_layers=layers,
        num_attention_heads=HEADS, num_key_value_heads=KV_HEADS, max_position_embeddings=2048,
        bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id,
    )


def _text_config(model_type: str, kw: dict[str, Any]) -> Any:
    from transformers import Gemma2Config, LlamaConfig, MistralConfig, Phi3Config, Qwen2Config

    if model_type == "llama":
        return LlamaConfig(tie_word_embeddings=False, **kw)
    if model_type == "mistral":
        return MistralConfig(sliding_window=None, **kw)
    if model_type == "qwen2":
        return Qwen2Config(**kw)
    if model_type == "gemma2":
        head_dim = kw["hidden_size"] // kw["num_attention_heads"]
        return Gemma2Config(head_dim=head_dim, query_pre_attn_scalar=head_dim, sliding_window=64, **kw)
    if model_type == "phi3":
        return Phi3Config(**kw)
    raise ValueError(f"no tiny text model for model_type {model_type!r}")


def _clip_vision(hidden: int, layers: int) -> Any:
    from transformers import CLIPVisionConfig

    return CLIPVisionConfig(hidden_size=hidden, intermediate_size=hidden * 2, num_hidden_layers=layers,
                            num_attention_heads=HEADS, image_size=IMAGE_SIZE, patch_size=PATCH_SIZE)


def tiny_grid_pinpoints(fx: dict[str, Any]) -> list[list[int]]:
    """LLaVA-NeXT's anyres grid scaled from the real image size to :data:`IMAGE_SIZE` (same aspect ratios)."""
    scale = fx["vision"]["image_size"]
    return [[h * IMAGE_SIZE // scale, w * IMAGE_SIZE // scale] for h, w in fx["vision"]["image_grid_pinpoints"]]


def _llava_config(fx: dict[str, Any], tok: Any, hidden: int, layers: int) -> Any:
    from transformers import LlavaConfig, LlavaNextConfig

    vision = fx["vision"]
    kw = dict(vision_config=_clip_vision(hidden, layers),
              text_config=_text_config(fx["text_model_type"], _text_kwargs(tok, hidden, layers)),
              image_token_index=tok.convert_tokens_to_ids(vision["image_token"]), pad_token_id=tok.pad_token_id,
              vision_feature_select_strategy=vision["vision_feature_select_strategy"],
              vision_feature_layer=vision["vision_feature_layer"])
    if fx["model_type"] == "llava_next":
        return LlavaNextConfig(image_grid_pinpoints=tiny_grid_pinpoints(fx), **kw)
    return LlavaConfig(**kw)


def _qwen2_vl_config(fx: dict[str, Any], tok: Any, hidden: int, layers: int) -> Any:
    from transformers import Qwen2VLConfig

    vision = fx["vision"]
    half = hidden // HEADS // 2  # multimodal rotary sections (temporal, height, width) sum to head_dim / 2
    sections = [half - 2 * (half // 4), half // 4, half // 4]
    rope = {"rope_type": "default", "rope_theta": 10000.0, "mrope_section": sections}
    vis = dict(depth=layers, embed_dim=hidden, hidden_size=hidden, num_heads=HEADS, mlp_ratio=2,
               patch_size=QWEN_PATCH_SIZE, spatial_merge_size=vision["merge_size"],
               temporal_patch_size=vision["temporal_patch_size"])
    ids = {"image_token_id": vision["image_token"], "video_token_id": "<|video_pad|>",
           "vision_start_token_id": vision["vision_start_token"], "vision_end_token_id": vision["vision_end_token"]}
    return Qwen2VLConfig(text_config=dict(_text_kwargs(tok, hidden, layers), rope_parameters=rope), vision_config=vis,
                         **{key: tok.convert_tokens_to_ids(value) for key, value in ids.items()})


def tiny_model(family: Family, seed: int = 0, hidden: int = HIDDEN, layers: int = LAYERS, tokenizer: Any = None) -> Any:
    """A randomly initialised model of the family's architecture over :func:`tiny_tokenizer`'s vocabulary, in eval
    mode, its generation config's EOS ids the tiny ids of the family's generation EOS tokens."""
    import transformers

    fx = _fixture(family)
    tok = tokenizer if tokenizer is not None else tiny_tokenizer(fx)
    if fx["model_type"] in ("llava", "llava_next"):
        config = _llava_config(fx, tok, hidden, layers)
    elif fx["model_type"] == "qwen2_vl":
        config = _qwen2_vl_config(fx, tok, hidden, layers)
    else:
        config = _text_config(fx["model_type"], _text_kwargs(tok, hidden, layers))
    torch.manual_seed(seed)
    model = getattr(transformers, fx["architecture"])(config)
    eos = [token_id(tok, i, fx) for i in fx["generation_eos_token_ids"]]
    model.generation_config.eos_token_id = eos if len(eos) > 1 else eos[0]
    model.generation_config.pad_token_id = tok.pad_token_id if tok.pad_token_id is not None else eos[0]
    model.generation_config.bos_token_id = tok.bos_token_id
    return model.eval()


# ------------------------------------------------------------------------------------------------ processors


def tiny_processor(family: Family, tokenizer: Any = None) -> Any:
    """The family's processor (its image processor at :data:`IMAGE_SIZE`) around :func:`tiny_tokenizer`, with the
    family's chat template and image-token settings."""
    fx = _fixture(family)
    if not is_vision(fx):
        raise ValueError(f"family {fx['family']!r} is text-only: it has no processor")
    vision = fx["vision"]
    tok = tokenizer if tokenizer is not None else tiny_tokenizer(fx)
    if fx["model_type"] in ("llava", "llava_next"):
        return _llava_processor(fx, tok)
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

    side = QWEN_PATCH_SIZE * vision["merge_size"]
    images = Qwen2VLImageProcessorPil(min_pixels=side * side, max_pixels=IMAGE_SIZE * IMAGE_SIZE,
                                      patch_size=QWEN_PATCH_SIZE, temporal_patch_size=vision["temporal_patch_size"],
                                      merge_size=vision["merge_size"], image_mean=vision["image_mean"],
                                      image_std=vision["image_std"])
    return _qwen2_vl_image_text_processor()(image_processor=images, tokenizer=tok, chat_template=fx["chat_template"])


def _llava_processor(fx: dict[str, Any], tok: Any) -> Any:
    from transformers import LlavaNextProcessor, LlavaProcessor
    from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil
    from transformers.models.llava_next.image_processing_pil_llava_next import LlavaNextImageProcessorPil

    vision = fx["vision"]
    sizes = dict(size={"shortest_edge": IMAGE_SIZE}, crop_size={"height": IMAGE_SIZE, "width": IMAGE_SIZE})
    kw = dict(tokenizer=tok, patch_size=PATCH_SIZE,
              vision_feature_select_strategy=vision["vision_feature_select_strategy"],
              num_additional_image_tokens=vision["num_additional_image_tokens"], image_token=vision["image_token"],
              chat_template=fx["chat_template"])
    if fx["model_type"] == "llava_next":
        images = LlavaNextImageProcessorPil(image_grid_pinpoints=tiny_grid_pinpoints(fx), **sizes)
        return LlavaNextProcessor(image_processor=images, **kw)
    return LlavaProcessor(image_processor=CLIPImageProcessorPil(**sizes), **kw)


@lru_cache(maxsize=None)
def _qwen2_vl_image_text_processor() -> type:
    """``Qwen2VLProcessor`` without its video processor. transformers checks every sub-processor's class, None
    included, and the video processor's class needs torchvision (not a dependency here); images and text go through
    the library's own Qwen2VLProcessor code."""
    from transformers import Qwen2VLProcessor
    from transformers.processing_utils import ProcessorMixin

    class Qwen2VLImageTextProcessor(Qwen2VLProcessor):
        def __init__(self, image_processor: Any = None, tokenizer: Any = None, chat_template: str | None = None,
                     **kwargs: Any):
            self.image_token, self.video_token = "<|image_pad|>", "<|video_pad|>"
            self.image_token_id = tokenizer.convert_tokens_to_ids(self.image_token)
            self.video_token_id = tokenizer.convert_tokens_to_ids(self.video_token)
            self.video_processor = None
            ProcessorMixin.__init__(self, image_processor, tokenizer, chat_template=chat_template, **kwargs)

    return Qwen2VLImageTextProcessor


def tiny_image(color: tuple[int, int, int] = (200, 30, 30)) -> Any:
    """A solid RGB image of :data:`IMAGE_SIZE` pixels per side."""
    from PIL import Image

    return Image.new("RGB", (IMAGE_SIZE, IMAGE_SIZE), color)
