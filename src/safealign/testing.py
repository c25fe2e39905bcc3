"""Tiny random models built in memory from configs, for tests and quick benchmarks (no downloads).

``tiny_tokenizer()`` is a byte-level tokenizer (256 bytes + ChatML specials) with a ChatML chat template that
renders the system turn and image content parts; ``tiny_lm()`` a 2-layer Llama; ``tiny_vlm()`` a LLaVA-style model
(tiny CLIP vision tower + tiny Llama) with its processor.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any, Sequence

import torch

CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' }}"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for part in message['content'] %}"
    "{% if part['type'] == 'image' %}{{ '<image>' }}{% elif part['type'] == 'text' %}{{ part['text'] }}{% endif %}"
    "{% endfor %}{% endif %}"
    "{{ '<|im_end|>\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)

SPECIAL_TOKENS = ["<pad>", "<|im_start|>", "<|im_end|>", "<image>"]


def tiny_tokenizer(padding_side: str = "left") -> Any:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    alphabet = pre_tokenizers.ByteLevel.alphabet()
    vocab = {tok: i for i, tok in enumerate(SPECIAL_TOKENS)}
    for ch in sorted(alphabet):
        vocab[ch] = len(vocab)
    tk = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    tk.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tk.decoder = decoders.ByteLevel()
    tok = PreTrainedTokenizerFast(
        tokenizer_object=tk,
        pad_token="<pad>",
        eos_token="<|im_end|>",
        bos_token="<|im_start|>",
        additional_special_tokens=["<image>"],
    )
    tok.add_special_tokens({"additional_special_tokens": ["<image>"]})
    tok.chat_template = CHATML_TEMPLATE
    tok.padding_side = padding_side
    return tok


def tiny_llama_config(vocab_size: int, hidden: int = 32, layers: int = 2, **kw: Any) -> Any:
    from transformers import LlamaConfig

    return LlamaConfig(
        vocab_size=vocab_size,
        hidden_size=hidden,
        intermediate_size=hidden * 2,
        num_hidden_layers=layers,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=1024,
        tie_word_embeddings=False,
        **kw,
    )


def tiny_lm(seed: int = 0, hidden: int = 32, layers: int = 2) -> tuple[Any, Any]:
    """(model, tokenizer): a randomly initialised 2-layer Llama over the byte-level tokenizer."""
    from transformers import LlamaForCausalLM

    tok = tiny_tokenizer()
    torch.manual_seed(seed)
    cfg = tiny_llama_config(len(tok), hidden, layers, pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id, bos_token_id=tok.bos_token_id)
    model = LlamaForCausalLM(cfg)
    model.generation_config.pad_token_id = tok.pad_token_id
    model.generation_config.eos_token_id = tok.eos_token_id
    return model.eval(), tok


def save_tiny_lm(path: str | Path, seed: int = 0) -> Path:
    """A tiny random causal LM + tokenizer saved as a loadable model folder (for CLI and multi-process tests)."""
    model, tok = tiny_lm(seed)
    model.save_pretrained(path)
    tok.save_pretrained(path)
    return Path(path)


def tiny_vlm(seed: int = 0, image_size: int = 32, patch_size: int = 8) -> tuple[Any, Any]:
    """(model, processor): a LLaVA-style model with a tiny CLIP vision tower and a tiny Llama."""
    from transformers import CLIPVisionConfig, LlavaConfig, LlavaForConditionalGeneration, LlavaProcessor
    from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil

    tok = tiny_tokenizer()
    image_token_id = tok.convert_tokens_to_ids("<image>")
    vision = CLIPVisionConfig(
        hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4, image_size=image_size, patch_size=patch_size
    )
    text = tiny_llama_config(len(tok), pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id, bos_token_id=tok.bos_token_id)
    cfg = LlavaConfig(
        vision_config=vision,
        text_config=text,
        image_token_index=image_token_id,
        vision_feature_select_strategy="default",
        vision_feature_layer=-1,
    )
    torch.manual_seed(seed)
    model = LlavaForConditionalGeneration(cfg)
    model.generation_config.pad_token_id = tok.pad_token_id
    model.generation_config.eos_token_id = tok.eos_token_id
    image_processor = CLIPImageProcessorPil(
        size={"shortest_edge": image_size}, crop_size={"height": image_size, "width": image_size}
    )
    processor = LlavaProcessor(
        image_processor=image_processor,
        tokenizer=tok,
        patch_size=patch_size,
        vision_feature_select_strategy="default",
        chat_template=CHATML_TEMPLATE,
        image_token="<image>",
        num_additional_image_tokens=1,
    )
    return model.eval(), processor


def solid_image(color: tuple[int, int, int] = (200, 30, 30), size: int = 32) -> Any:
    from PIL import Image

    return Image.new("RGB", (size, size), color)


# ------------------------------------------------------------------------------------- multi-process runs


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (for a launcher's rendezvous)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def torchrun(args: Sequence[str], nproc: int = 2, cwd: str | Path | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    """Run ``args`` (a script path, or ``-m module ...``) in ``nproc`` CPU processes under torchrun; returns the
    finished process (text stdout/stderr captured).

    ``accelerate launch`` starts multi-CPU jobs through mpirun; torchrun sets the same environment (RANK,
    WORLD_SIZE, MASTER_ADDR...), which ``Accelerator`` reads as MULTI_CPU with the gloo backend. One torch thread
    per process, and this checkout's ``src`` first on the path.
    """
    src = str(Path(__file__).resolve().parents[1])
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false",
           "PYTHONPATH": os.pathsep.join([src, *filter(None, [os.environ.get("PYTHONPATH")])])}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(nproc), "--master_addr", "127.0.0.1",
           "--master_port", str(free_port()), *map(str, args)]
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
