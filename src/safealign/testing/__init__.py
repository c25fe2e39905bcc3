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
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Sequence

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
        tokenizer_object=tk, pad_token="<pad>", eos_token="<|im_end|>", bos_token="<|im_start|>",
        additional_special_tokens=["<image>"],
    )
    tok.add_special_tokens({"additional_special_tokens": ["<image>"]})
    tok.chat_template = CHATML_TEMPLATE
    tok.padding_side = padding_side
    return tok


def tiny_llama_config(vocab_size: int, hidden: int = 32, layers: int = 2, **kw: Any) -> Any:
    from transformers import LlamaConfig

    return LlamaConfig(
        vocab_size=vocab_size, hidden_size=hidden, intermediate_size=hidden * 2, num_hidden_layers=layers,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=1024, tie_word_embeddings=False, **kw,
    )


def tiny_lm(seed: int = 0, hidden: int = 32, layers: int = 2) -> tuple[Any, Any]:
    """(model, tokenizer): a randomly initialised 2-layer Llama over the byte-level tokenizer."""
    from transformers import LlamaForCausalLM

    tok = tiny_tokenizer()
    torch.manual_seed(seed)
    cfg = tiny_llama_config(
        len(tok), hidden, layers, pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id,
        bos_token_id=tok.bos_token_id,
    )
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
        hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4, image_size=image_size,
        patch_size=patch_size,
    )
    text = tiny_llama_config(
        len(tok), pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id, bos_token_id=tok.bos_token_id
    )
    cfg = LlavaConfig(
        vision_config=vision, text_config=text, image_token_index=image_token_id,
        vision_feature_select_strategy="default", vision_feature_layer=-1,
    )
    torch.manual_seed(seed)
    model = LlavaForConditionalGeneration(cfg)
    model.generation_config.pad_token_id = tok.pad_token_id
    model.generation_config.eos_token_id = tok.eos_token_id
    image_processor = CLIPImageProcessorPil(
        size={"shortest_edge": image_size}, crop_size={"height": image_size, "width": image_size}
    )
    processor = LlavaProcessor(
        image_processor=image_processor, tokenizer=tok, patch_size=patch_size, vision_feature_select_strategy="default",
        chat_template=CHATML_TEMPLATE, image_token="<image>", num_additional_image_tokens=1,
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


def torchrun(
    args: Sequence[str], nproc: int = 2, cwd: str | Path | None = None, timeout: float = 300
) -> subprocess.CompletedProcess:
    """Run ``args`` (a script path, or ``-m module ...``) in ``nproc`` CPU processes under torchrun; returns the
    finished process (text stdout/stderr captured).

    ``accelerate launch`` starts multi-CPU jobs through mpirun; torchrun sets the same environment (RANK,
    WORLD_SIZE, MASTER_ADDR...), which ``Accelerator`` reads as MULTI_CPU with the gloo backend. One torch thread
    per process, and this checkout's ``src`` first on the path.
    """
    src = str(Path(__file__).resolve().parents[2])  # src/safealign/testing/__init__.py -> src
    env = {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "TOKENIZERS_PARALLELISM": "false",
        "PYTHONPATH": os.pathsep.join([src, *filter(None, [os.environ.get("PYTHONPATH")])]),
    }
    cmd = [
        sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(nproc), "--master_addr", "127.0.0.1",
        "--master_port", str(free_port()), *map(str, args),
    ]
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def torchrun_source(source: str, out: str | Path, nproc: int = 2, timeout: float = 300) -> subprocess.CompletedProcess:
    """Write ``source`` to ``out``/run.py and run it under :func:`torchrun` with ``out`` as its one argument, from
    the checkout's root (where the script's outputs go is up to it, usually ``out``)."""
    script = Path(out) / "run.py"
    script.parent.mkdir(parents=True, exist_ok=True)
    script.write_text(source)
    return torchrun([script, out], nproc=nproc, cwd=Path(__file__).resolve().parents[3], timeout=timeout)


def fsdp2_cpu_accelerator() -> Any:
    """An ``Accelerator`` that prepares models with accelerate's FSDP2 path (``fully_shard``, transformer-layer
    auto-wrap) on CPU processes started by torchrun (gloo), so that sharded-parameter code paths (DTensor weights,
    gathered checkpoints, resume) run in tests without a GPU.

    accelerate turns FSDP on only for accelerator devices and otherwise reports MULTI_CPU; this sets its shared state's
    distributed type to FSDP after start-up. That is the only stand-in: the sharding, the collectives and accelerate's
    preparation of models and optimisers are the real ones.
    """
    from accelerate import Accelerator

    acc = Accelerator(cpu=True)
    if acc.num_processes < 2:
        raise RuntimeError("fsdp2_cpu_accelerator needs a multi-process run (torchrun --nproc_per_node 2)")
    return force_fsdp2(acc)


def force_fsdp2(acc: Any) -> Any:
    """Turn an ``Accelerator`` created on CPU processes into an FSDP2 one (the shipped ``configs/accelerate/fsdp.yaml``
    settings: transformer-layer auto-wrap, reshard after forward, sharded state dict) by setting accelerate's shared
    state; see :func:`fsdp2_cpu_accelerator`."""
    from accelerate.state import AcceleratorState, PartialState
    from accelerate.utils import DistributedType, FullyShardedDataParallelPlugin

    plugin = FullyShardedDataParallelPlugin(
        fsdp_version=2, auto_wrap_policy="transformer_based_wrap", reshard_after_forward=True,
        state_dict_type="SHARDED_STATE_DICT",
    )
    PartialState._shared_state["distributed_type"] = DistributedType.FSDP
    AcceleratorState._shared_state["distributed_type"] = DistributedType.FSDP
    AcceleratorState._shared_state["fsdp_plugin"] = plugin
    assert acc.is_fsdp2
    return acc


@contextmanager
def fsdp2_cpu_trainers() -> Iterator[None]:
    """Within the block, every transformers/TRL ``Trainer`` created on CPU processes (torchrun) prepares its model with
    FSDP2 (:func:`force_fsdp2` on the Accelerator it creates), as under ``accelerate launch`` with the FSDP config."""
    from transformers import Trainer

    original = Trainer.create_accelerator_and_postprocess

    def create(self: Any) -> None:
        original(self)
        force_fsdp2(self.accelerator)
        self.is_fsdp_enabled = True

    Trainer.create_accelerator_and_postprocess = create
    try:
        yield
    finally:
        Trainer.create_accelerator_and_postprocess = original


class SimulatedCrash(Exception):
    """Raised by :func:`crash_in_step`."""


@contextmanager
def crash_in_step(step: int) -> Iterator[None]:
    """Within the block, a transformers/TRL ``Trainer`` dies (``SimulatedCrash``) at the end of optimiser step
    ``step``, after that step's logging and checkpointing, as a killed run would."""
    from transformers import Trainer

    original = Trainer._maybe_log_save_evaluate

    def crashing(self: Any, *args: Any, **kwargs: Any) -> Any:
        out = original(self, *args, **kwargs)
        if self.state.global_step == step:
            raise SimulatedCrash(f"simulated crash in step {step}")
        return out

    Trainer._maybe_log_save_evaluate = crashing
    try:
        yield
    finally:
        Trainer._maybe_log_save_evaluate = original


RESUME_PROMPTS = [
    ("hi", None), ("bake bread?", "Answer briefly."), ("[redacted] please", None), ("2+2?", None),
    ("a poem", "You are a poet."), ("why is the sky blue", None),
]


def ppo_resume_check(
    out: str | Path, critic_modes: Sequence[str] = ("head", "top"), accelerator: Any = None
) -> dict[str, Any]:
    """Whether a PPO-Lag run of 4 steps that is interrupted after step 2 and resumed ends where an uninterrupted
    one does, on this process's device and launcher, for each critic mode: tiny random actor/R/C, LoRA, a checkpoint
    every 2 steps. ``accelerator``: a factory of the Accelerator each trainer gets (default: the trainer's own).

    Returns (on the main process; ``{}`` on the others) the largest differences between the two runs' final
    checkpoints (actor trainable weights, critics), metrics (timings excluded) and multiplier states, and ``ok`` when
    all are exactly equal.
    """
    import json

    from safealign.data.records import PromptRecord
    from safealign.models.score import ScoreConfig, ScoreModel
    from safealign.train.ppo_lag import PPOLagConfig, PPOLagTrainer
    from safealign.utils.jsonl import read_jsonl

    prompts = [PromptRecord(prompt=p, system=s) for p, s in RESUME_PROMPTS]

    def trainer(run_dir: Path, steps: int, resume: bool, mode: str) -> Any:
        actor, tok = tiny_lm(0)
        rm = ScoreModel(tiny_lm(1)[0], ScoreConfig(kind="reward"))
        cm = ScoreModel(tiny_lm(2)[0], ScoreConfig(kind="cost"))
        cfg = PPOLagConfig(
            output_dir=str(run_dir), steps=steps, batch_size=2, max_new_tokens=5, progress=False, tensorboard=False,
            save_every=2, resume=resume, seed=7, mini_batches=2, critic_mode=mode, critic_top_layers=1, lambda_lr=0.5,
        )
        # a fresh Accelerator per trainer, as in separate launches (accelerate's FSDP gradient clipping looks the
        # parameters up among the models an Accelerator prepared)
        return PPOLagTrainer(cfg, actor, tok, rm, cm, prompts, accelerator=accelerator() if accelerator else None)

    def tensors(ck: Path) -> dict[str, torch.Tensor]:
        return {
            f"{name}.{k}": v.float()
            for name in ("actor_trainable", "reward_critic", "cost_critic")
            for k, v in torch.load(ck / f"{name}.pt", map_location="cpu").items()
        }

    def metrics(run_dir: Path) -> list[dict[str, float]]:
        return [
            {k: v for k, v in row.items() if not k.startswith("time/")} for row in read_jsonl(run_dir / "metrics.jsonl")
        ]

    out = Path(out)
    modes: dict[str, Any] = {}
    acc = None
    for mode in critic_modes:
        a, b = out / mode / "straight", out / mode / "resumed"
        straight = trainer(a, 4, False, mode)
        sharded = sorted({type(p).__name__ for p in straight.actor.parameters() if p.requires_grad})
        straight.train()
        trainer(b, 2, False, mode).train()  # "interrupted" after step 2 (checkpoint written)
        resumed = trainer(b, 4, True, mode)
        resumed.train()
        acc = resumed.acc
        acc.wait_for_everyone()
        if not acc.is_main_process:
            continue
        ta, tb = tensors(a / "checkpoint"), tensors(b / "checkpoint")
        ma, mb = metrics(a), metrics(b)
        la, lb = (json.loads((d / "checkpoint" / "lagrange.json").read_text()) for d in (a, b))
        weight_diff = max(((ta[k] - tb[k]).abs().max().item() for k in ta if k in tb), default=float("nan"))
        metric_diff = max((abs(x[k] - y[k]) for x, y in zip(ma, mb) for k in x), default=float("nan"))
        modes[mode] = {
            "trainable_parameter_types": sharded,
            "tensors": len(ta),
            "same_keys": ta.keys() == tb.keys(),
            "lora_tensors": sum(".lora_" in k for k in ta),
            "steps_logged": [len(ma), len(mb)],
            "max_abs_weight_diff": weight_diff,
            "max_abs_metric_diff": metric_diff,
            "lagrange_equal": la == lb,
            "lambda": straight.lagrange.values,
        }
        modes[mode]["ok"] = bool(
            modes[mode]["same_keys"] and weight_diff == 0 and metric_diff == 0 and la == lb and len(ma) == len(mb) == 4
        )
    if acc is None or not acc.is_main_process:
        return {}
    return {
        "distributed_type": str(acc.distributed_type),
        "num_processes": acc.num_processes,
        "mixed_precision": str(acc.mixed_precision),
        "device": str(acc.device),
        "modes": modes,
        "ok": all(m["ok"] for m in modes.values()),
    }
