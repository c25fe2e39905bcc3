"""One trainer for the reward model R and the cost model C (the score models of Safe RLHF / Safe RLHF-V).

The two differ only in which response comes first in a batch and in the loss (both from :mod:`safealign.losses`):

- reward: Bradley-Terry ``-log sigma(R(better) - R(worse))`` + ``eta * mean(R^2)``;
- cost: ``-log sigma(C(y_u) - C(y_s)) - w_u log sigma(s_u C(y_u)) - w_s log sigma(s_s C(y_s))`` + ``eta * mean(C^2)``
  with ``s = +1`` unsafe / ``-1`` safe, so ``C > 0`` means unsafe; ``severity_weighted`` sets ``w`` from the graded
  labels (0 safe .. 3 severe). Contradictory pairs are refused (or skipped with ``skip_invalid``).

What is trained (``train_mode``): ``full`` (backbone + head; vision tower frozen by default), ``lora`` (peft adapters
on the attention projections, optionally of the top ``top_layers`` only, + head), ``top`` (the top ``top_layers``
decoder layers + final norm + head) or ``head`` (the head alone). With ``top``/``head`` and ``cache_trunk`` the frozen
lower layers run ONCE per sequence and their hidden states are cached; each epoch then only runs the trained layers,
which is what makes the default 135M backbone trainable in minutes on a laptop CPU. The saved model is the ordinary
full score model either way.

Runs unchanged under ``accelerate launch`` (or torchrun): each epoch's order is a seeded permutation, so the k-th
global batch holds the same pairs whatever the number of processes; the logged loss is the mean over processes.
"""

from __future__ import annotations

import json
import math
import shutil
import time
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any, Optional, Sequence

import torch
from torch import nn

from safealign.data.io import Loaded, load_safety_pairs
from safealign.data.records import SafetyPair
from safealign.errors import ConfigError
from safealign.losses import cost_loss, reward_loss, safety_sign, severity_weight
from safealign.models.chat_format import chat_format
from safealign.models.conversation import encode_conversations, is_processor
from safealign.models.score import ScoreConfig, ScoreModel, position_ids_from_mask
from safealign.models.trunk import CachedTopScorer, decoder_layers
from safealign.train import common, sharding
from safealign.train.checkpoint import CHECKPOINT_PREFIX, Part, latest_checkpoint, prune_checkpoints
from safealign.train.score_config import CostTrainConfig, RewardTrainConfig, ScoreTrainConfig  # noqa: F401 - re-exported
from safealign.train.score_data import PairCollator, check_pairs, first_second
from safealign.train.spine import TrainerSpine
from safealign.ui import console, progress_bar
from safealign.utils.atomic import atomic_torch_save


# ------------------------------------------------------------------------------------------------ data
def load_pairs(spec: Optional[str], skip_invalid: bool = False, limit: int = 0) -> Loaded:
    """'demo:NAME' (or a bare bundled set name) or a path/hub id readable by ``load_safety_pairs``; several
    sources joined by commas are concatenated (e.g. ``demo:safety_train,runs/collected.jsonl``). ``.invalid``: the
    rows skipped as invalid with ``skip_invalid``."""
    if not spec:
        return Loaded()
    if "," in spec:
        pairs = sum((load_pairs(part.strip(), skip_invalid) for part in spec.split(",") if part.strip()), Loaded())
        return pairs[:limit] if limit and limit > 0 else pairs
    from safealign.data.demo import DEMO_SETS, load_demo

    name = spec[5:] if spec.startswith("demo:") else spec
    if spec.startswith("demo:") or (name in DEMO_SETS and not Path(spec).exists()):
        pairs = Loaded(p for p in load_demo(name) if isinstance(p, SafetyPair))
        if not pairs:
            raise ConfigError(f"bundled set {name!r} holds no safety pairs")
    else:
        pairs = load_safety_pairs(spec, skip_invalid=skip_invalid)
    return pairs[:limit] if limit and limit > 0 else pairs


def epoch_order(n: int, seed: int, epoch: int) -> list[int]:
    g = torch.Generator().manual_seed(seed * 1000 + epoch)
    return torch.randperm(n, generator=g).tolist()


# ------------------------------------------------------------------------------------------------ model set-up
def load_backbone_and_processor(cfg: ScoreTrainConfig) -> tuple[ScoreModel, Any]:
    from safealign.models.chat_templates import use_chat_template
    from safealign.models.loading import default_dtype, load_tokenizer, resolve_model

    dtype = torch.float32
    if cfg.mixed_precision in ("auto", "bf16") and default_dtype() == torch.bfloat16:
        dtype = torch.bfloat16
    score_cfg = ScoreConfig(kind=cfg.kind, threshold=cfg.unsafe_cost_threshold)
    model = ScoreModel.from_backbone(cfg.model, score_cfg, dtype=dtype)
    if model.score_config.is_vision:
        from transformers import AutoProcessor

        proc = use_chat_template(AutoProcessor.from_pretrained(resolve_model(cfg.model)), cfg.chat_template)
    else:
        proc = load_tokenizer(cfg.model, padding_side="right", chat_template=cfg.chat_template)
    return model, proc


def configure_trainable(model: ScoreModel, cfg: ScoreTrainConfig) -> ScoreModel:
    """Freeze / unfreeze / add LoRA as ``cfg.train_mode`` says. The head is always trained."""
    mode = cfg.train_mode
    trunk = model.backbone
    if mode == "full":
        trunk.requires_grad_(True)
    elif mode == "head":
        trunk.requires_grad_(False)
    elif mode == "top":
        trunk.requires_grad_(False)
        lm, layers = decoder_layers(trunk)
        k = _top_count(cfg, len(layers))
        for layer in layers[len(layers) - k:]:
            layer.requires_grad_(True)
        norm = getattr(lm, "norm", None)
        if norm is not None:
            norm.requires_grad_(True)
    elif mode == "lora":
        from peft import LoraConfig, get_peft_model

        trunk.requires_grad_(False)
        targets = _lora_targets(trunk, cfg)
        if not targets:
            raise ConfigError(f"no modules named {cfg.lora_target_modules} to put LoRA adapters on")
        lora = LoraConfig(
            r=cfg.lora_r, lora_alpha=cfg.lora_alpha, lora_dropout=cfg.lora_dropout, target_modules=targets, bias="none"
        )
        model.backbone = get_peft_model(trunk, lora)
    else:
        raise ConfigError(f"train_mode must be full, lora, top or head, got {mode!r}")
    if cfg.freeze_vision_tower:
        model.freeze_vision_tower()
    model.head.requires_grad_(True)
    if cfg.gradient_checkpointing:
        inner = model.backbone.get_base_model() if hasattr(model.backbone, "get_base_model") else model.backbone
        if hasattr(inner, "gradient_checkpointing_enable"):
            inner.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    return model


def _top_count(cfg: ScoreTrainConfig, n_layers: int) -> int:
    if cfg.top_layers < 1 or cfg.top_layers > n_layers:
        raise ConfigError(f"top_layers must be between 1 and {n_layers} for this model, got {cfg.top_layers}")
    return cfg.top_layers


def _lora_targets(trunk: nn.Module, cfg: ScoreTrainConfig) -> list[str]:
    """Full module names ending in a target suffix, in the text decoder only (never the vision tower), and only in
    the top ``top_layers`` layers when that is > 0."""
    _, layers = decoder_layers(trunk)
    allowed_layers = set(range(len(layers) - cfg.top_layers, len(layers))) if cfg.top_layers > 0 else None
    layer_ids = {id(m): i for i, m in enumerate(layers)}
    owner: dict[str, int] = {}
    for name, mod in trunk.named_modules():
        if id(mod) in layer_ids:
            owner[name] = layer_ids[id(mod)]
    out = []
    for name, mod in trunk.named_modules():
        if not isinstance(mod, nn.Linear) or not any(name.endswith(t) for t in cfg.lora_target_modules):
            continue
        if "vision_tower" in name or "multi_modal_projector" in name:
            continue
        if allowed_layers is not None:
            idx = next((i for prefix, i in owner.items() if name.startswith(prefix + ".")), None)
            if idx is None or idx not in allowed_layers:
                continue
        out.append(name)
    return out


# ------------------------------------------------------------------------------------------------ trunk cache
@torch.no_grad()
def cache_trunk_states(
    model: ScoreModel,
    processing_class: Any,
    pairs: Sequence[SafetyPair],
    kind: str,
    k: int,
    cfg: ScoreTrainConfig,
    enabled_bar: bool = True,
) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """For each pair, the hidden states entering the top ``k`` layers (k = 0: the trunk's final states) of its
    (first, second) responses, unpadded: list of ([L1, H], [L2, H]). With ``cfg.trunk_cache`` the states are also
    kept in that file, keyed by the rendered text, and reused by later runs on the same backbone and layer (the
    reward and cost models of one dataset share every sequence)."""
    import hashlib

    from safealign.models.conversation import render

    if is_processor(processing_class):
        raise ConfigError("cache_trunk works with text models only (image+text: use train_mode lora/full)")
    lm, layers = decoder_layers(model.backbone)
    n_layers = len(layers)
    rows = []
    for p in pairs:
        a, b = first_second(p, kind)  # type: ignore[arg-type]
        rows += [(p, a), (p, b)]
    texts = [render(processing_class, p.prompt, p.responses[i], p.system) for p, i in rows]
    keys = [hashlib.sha1(f"{cfg.max_length}|{t}".encode()).hexdigest() for t in texts]
    tag = f"{model.score_config.base_model or cfg.model}|{n_layers}|{k}"
    store: dict[str, torch.Tensor] = {}
    cache_file = Path(cfg.trunk_cache) if cfg.trunk_cache else None
    if cache_file is not None and cache_file.exists():
        saved = torch.load(cache_file, weights_only=True)
        if saved.get("tag") == [tag]:
            store = saved["states"]
    first_row: dict[str, int] = {}
    for j, key in enumerate(keys):
        if key not in store and key not in first_row:
            first_row[key] = j
    todo = sorted(first_row.values(), key=lambda j: len(texts[j]))  # similar lengths together: little padding
    device = next(model.parameters()).device
    model.eval()
    bs = max(cfg.eval_batch_size, 1)
    with progress_bar(len(todo), "caching trunk states", enabled_bar and bool(todo)) as advance:
        for s in range(0, len(todo), bs):
            chunk = [rows[j] for j in todo[s : s + bs]]
            enc = encode_conversations(
                processing_class, [p.prompt for p, _ in chunk], [p.responses[i] for p, i in chunk],
                [p.system for p, _ in chunk], max_length=cfg.max_length,
            )
            ids, mask = enc["input_ids"].to(device), enc["attention_mask"].to(device)
            out = lm(
                input_ids=ids, attention_mask=mask, position_ids=position_ids_from_mask(mask), use_cache=False,
                output_hidden_states=(k > 0),
            )
            h = out.hidden_states[n_layers - k] if k > 0 else out.last_hidden_state  # [b, L, H]
            for j, row in enumerate(todo[s : s + bs]):
                n = int(mask[j].sum())
                store[keys[row]] = h[j, :n].detach().cpu().clone()  # right padding: real tokens come first
            advance(len(chunk))
    if cache_file is not None and todo:
        atomic_torch_save({"tag": [tag], "states": store}, cache_file)
    return [(store[keys[2 * i]], store[keys[2 * i + 1]]) for i in range(len(pairs))]


class CachedCollator:
    """Pads cached states of (first, second) responses into [2B, L, H] + mask, with the safety labels."""

    def __init__(self, kind: str):
        self.kind = kind

    def __call__(
        self, items: Sequence[tuple[SafetyPair, tuple[torch.Tensor, torch.Tensor]]]
    ) -> dict[str, torch.Tensor]:
        seqs, safe, sev = [], [], []
        order = [first_second(p, self.kind) for p, _ in items]  # type: ignore[arg-type]
        for slot in (0, 1):
            for (p, st), o in zip(items, order):
                seqs.append(st[slot])
                safe.append(bool(p.is_safe[o[slot]]))
                sev.append(int(p.severity[o[slot]]))
        L = max(s.size(0) for s in seqs)
        H = seqs[0].size(1)
        hidden = torch.zeros(len(seqs), L, H, dtype=seqs[0].dtype)
        mask = torch.zeros(len(seqs), L, dtype=torch.long)
        for i, s in enumerate(seqs):
            hidden[i, : s.size(0)] = s
            mask[i, : s.size(0)] = 1
        return {
            "hidden": hidden,
            "attention_mask": mask,
            "is_safe": torch.tensor(safe),
            "severity": torch.tensor(sev, dtype=torch.long),
        }


# ------------------------------------------------------------------------------------------------ loss
def pair_loss(
    scores: torch.Tensor, is_safe: torch.Tensor, severity: torch.Tensor, cfg: ScoreTrainConfig
) -> tuple[torch.Tensor, dict[str, float]]:
    """Loss of a 2B-row batch (first half = better / less safe) + batch statistics."""
    B = scores.size(0) // 2
    first, second = scores[:B], scores[B:]
    stats: dict[str, float] = {"accuracy": float((first > second).float().mean())}
    if cfg.kind == "reward":
        loss = reward_loss(first, second, regularization=cfg.regularization)
    else:
        sign = safety_sign(is_safe)  # [2B] +1 unsafe, -1 safe
        w = severity_weight(severity, cfg.severity_weights) if cfg.severity_weighted else torch.ones_like(sign)
        w = w.to(scores.device)
        sign = sign.to(scores.device)
        loss = cost_loss(first, second, sign[:B], sign[B:], w[:B], w[B:], regularization=cfg.regularization)
        stats["sign_accuracy"] = float(((scores > 0) == (~is_safe.bool().to(scores.device))).float().mean())
    return loss, stats


# ------------------------------------------------------------------------------------------------ training
def train_score_model(
    cfg: ScoreTrainConfig,
    model: Optional[ScoreModel] = None,
    processing_class: Any = None,
    train_pairs: Optional[Sequence[SafetyPair]] = None,
    eval_pairs: Optional[Sequence[SafetyPair]] = None,
    accelerator: Any = None,
) -> Path:
    """Train a reward or cost model; returns ``cfg.output_dir`` holding the saved model (reload with
    ``ScoreModel.from_pretrained`` / ``load_score_model``), ``metrics.jsonl`` (per step), ``train_summary.json``
    and ``eval_metrics.json`` (held-out, when eval data is given)."""
    return ScoreTrainer(cfg, model, processing_class, train_pairs, eval_pairs, accelerator).train()


class ScoreTrainer(TrainerSpine):
    """The reward / cost model trainer on the trainers' spine (accelerator, seed, checkpoints, metrics): numbered
    checkpoints (``checkpoint-N``, the newest kept) hold the trained module's trainable tensors, its optimiser and
    learning-rate schedule, every process's random state and the position in the data."""

    def __init__(
        self,
        cfg: ScoreTrainConfig,
        model: Optional[ScoreModel] = None,
        processing_class: Any = None,
        train_pairs: Optional[Sequence[SafetyPair]] = None,
        eval_pairs: Optional[Sequence[SafetyPair]] = None,
        accelerator: Any = None,
    ):
        if cfg.kind not in ("reward", "cost"):
            raise ConfigError(f"kind must be reward or cost, got {cfg.kind!r}")
        if cfg.batch_size < 1 or cfg.epochs < 0 or cfg.gradient_accumulation_steps < 1:
            raise ConfigError("batch_size and gradient_accumulation_steps must be >= 1 and epochs >= 0")
        if cfg.cache_trunk and cfg.train_mode not in ("top", "head"):
            raise ConfigError("cache_trunk needs train_mode top or head (the cached layers must be frozen)")
        self.cfg = cfg
        super().__init__(
            cfg.output_dir, cfg.seed, accelerator, cfg.mixed_precision, cfg.gradient_accumulation_steps
        )
        if cfg.train_mode == "lora" and sharding.sharded_parameters(self.acc):
            raise ConfigError(
                "train_mode lora is not supported with sharded parameters (FSDP / ZeRO-3): the adapter is merged at "
                "the end, which needs whole weights; use full or top"
            )
        if model is None:
            model, processing_class = load_backbone_and_processor(cfg)
        elif processing_class is None:
            raise ConfigError("pass the processing_class (tokenizer or processor) with a ready model")
        chat_format(processing_class, f"the {cfg.kind} model")  # start-up probe: one line if text would be lost
        model.score_config.kind = cfg.kind
        model.score_config.threshold = cfg.unsafe_cost_threshold
        self.model = configure_trainable(model, cfg)
        self.proc = processing_class
        pairs = Loaded(train_pairs) if train_pairs is not None else load_pairs(cfg.data, cfg.skip_invalid, cfg.limit)
        self.train_pairs, unusable = check_pairs(pairs, cfg.kind, cfg.skip_invalid, source=str(cfg.data))
        # every row left out is counted: invalid rows (the reader) + unusable pairs (identical / contradictory)
        self.skipped_reasons = {"invalid_rows": len(pairs.invalid), "unusable_pairs": unusable}
        self.skipped = sum(self.skipped_reasons.values())
        if not self.train_pairs:
            raise ConfigError(f"no usable training pairs in {cfg.data}")
        # evaluation data follows the same skip_invalid as the training data
        held = Loaded(eval_pairs) if eval_pairs is not None else load_pairs(cfg.eval_data, cfg.skip_invalid)
        self.eval_pairs, unusable_eval = check_pairs(held, cfg.kind, cfg.skip_invalid, source=str(cfg.eval_data))
        self.skipped_eval = len(held.invalid) + unusable_eval
        self.bar = cfg.progress and self.main
        self.module: Any = None  # the prepared module and its optimiser and schedule, once train() has set them up
        self.optimizer: Any = None
        self.scheduler: Any = None

    # -- helpers
    def _items(self) -> list[Any]:
        return list(self.train_pairs)

    def checkpoint_parts(self) -> dict[str, Part]:
        return {"model": Part(self.module, self.optimizer, trainable_only=True)}

    def _save_checkpoint(self, state: common.TrainerState) -> None:
        """Every process: ``output_dir/checkpoint-{step}``; only the newest one is kept."""
        self.write_checkpoint(self.out / f"{CHECKPOINT_PREFIX}{state.step}", asdict(state), {"lr": self.scheduler})
        if self.main:
            prune_checkpoints(self.out, keep_last=1)
        self.acc.wait_for_everyone()

    def _resume(self) -> tuple[common.TrainerState, Optional[str]]:
        """The state to start from: the newest checkpoint's when ``resume`` finds one (every process restores it)."""
        cp = latest_checkpoint(self.out) if self.cfg.resume else None
        if cp is None:
            return common.TrainerState(), None
        saved = self.read_checkpoint(cp, {"lr": self.scheduler})
        state = common.TrainerState(**{f.name: saved[f.name] for f in fields(common.TrainerState) if f.name in saved})
        if self.main:
            console.print(f"resuming from {cp} (step {state.step}, epoch {state.epoch})")
        return state, str(cp)

    def train(self) -> Path:
        cfg, acc = self.cfg, self.acc
        t_start = time.time()
        cache_s = 0.0
        if cfg.cache_trunk:
            _, layers = decoder_layers(self.model.backbone)
            k = _top_count(cfg, len(layers)) if cfg.train_mode == "top" else 0
            self.model.to(acc.device)
            t0 = time.time()
            states = cache_trunk_states(self.model, self.proc, self.train_pairs, cfg.kind, k, cfg, self.bar)
            cache_s = time.time() - t0
            items: list[Any] = list(zip(self.train_pairs, states))
            module: nn.Module = CachedTopScorer(self.model, k)
            collate: Any = CachedCollator(cfg.kind)
        else:
            items = self._items()
            module = self.model
            collate = PairCollator(self.proc, cfg.kind, cfg.max_length)

        global_batch = cfg.batch_size * acc.num_processes
        micro_per_epoch = math.ceil(len(items) / global_batch)
        steps_per_epoch = max(1, math.ceil(micro_per_epoch / cfg.gradient_accumulation_steps))
        total_steps = cfg.max_steps if cfg.max_steps > 0 else steps_per_epoch * cfg.epochs
        n_epochs = cfg.epochs if cfg.max_steps <= 0 else max(cfg.epochs, math.ceil(total_steps / steps_per_epoch))

        optimizer = common.build_optimizer(module, cfg.learning_rate, cfg.weight_decay)
        scheduler = common.build_scheduler(
            optimizer, cfg.lr_scheduler, total_steps, cfg.warmup_ratio
        )  # stepped by us, once per step
        module, optimizer = sharding.prepare_pair(acc, module, optimizer, micro_batch_size=cfg.batch_size)
        unwrapped = acc.unwrap_model(module)
        self.module, self.optimizer, self.scheduler = module, optimizer, scheduler

        state, resumed_from = self._resume()
        logger = self.metric_logger(resume_step=state.step if resumed_from else None)
        params = common.count_parameters(self.model)
        if self.main and resumed_from is None:
            logger.log(
                {
                    "event": "start",
                    "kind": cfg.kind,
                    "train_mode": cfg.train_mode,
                    "pairs": len(items),
                    "skipped": self.skipped,
                    "processes": acc.num_processes,
                    "global_batch": global_batch,
                    "total_steps": total_steps,
                    "params": params,
                }
            )
        tokens = 0
        t_train = time.time()
        last: dict[str, float] = {}
        module.train()
        with progress_bar(total_steps, f"training {cfg.kind} model", self.bar) as advance:
            advance(state.step)
            done = state.step >= total_steps
            for epoch in range(state.epoch, n_epochs):
                if done:
                    break
                order = epoch_order(len(items), cfg.seed, epoch)
                loader = torch.utils.data.DataLoader(
                    [items[i] for i in order], batch_size=cfg.batch_size, shuffle=False, collate_fn=collate
                )
                loader = acc.prepare_data_loader(loader, device_placement=True)
                skip = state.batch_in_epoch if epoch == state.epoch else 0
                if skip:
                    loader = acc.skip_first_batches(loader, skip)
                micro = skip
                for batch in loader:
                    with acc.accumulate(module):
                        is_safe, severity = batch.pop("is_safe"), batch.pop("severity")
                        if "pixel_values" in batch:
                            batch["pixel_values"] = batch["pixel_values"].to(next(unwrapped.parameters()).dtype)
                        out = module(**batch)
                        loss, stats = pair_loss(out.scores, is_safe, severity, cfg)
                        acc.backward(loss)
                        if acc.sync_gradients and cfg.max_grad_norm > 0:
                            acc.clip_grad_norm_(module.parameters(), cfg.max_grad_norm)
                        optimizer.step()
                        optimizer.zero_grad()
                    micro += 1
                    tokens += int(batch["attention_mask"].sum())
                    if not acc.sync_gradients:
                        continue
                    scheduler.step()
                    state.step += 1
                    state.batch_in_epoch = micro
                    state.samples_seen += global_batch
                    g_loss = acc.gather(loss.detach().float().reshape(1)).mean().item()
                    g_stats = {
                        k: acc.gather(torch.tensor([v], device=acc.device)).mean().item() for k, v in stats.items()
                    }
                    last = {"loss": g_loss, **g_stats}
                    logger.log(
                        {
                            "step": state.step,
                            "epoch": epoch,
                            "loss": g_loss,
                            "lr": scheduler.get_last_lr()[0],
                            **g_stats,
                        }
                    )
                    advance(1, loss=g_loss, **{k: v for k, v in g_stats.items()})
                    if cfg.save_every > 0 and state.step % cfg.save_every == 0 and state.step < total_steps:
                        self._save_checkpoint(state)
                    if state.step >= total_steps:
                        done = True
                        break
                if not done:
                    state.epoch, state.batch_in_epoch = epoch + 1, 0
                    if state.epoch < n_epochs:
                        self._save_checkpoint(state)
        train_s = time.time() - t_train
        tokens_all = int(acc.gather(torch.tensor([tokens], device=acc.device)).sum().item())

        # -- evaluation and the final, atomic save (main process)
        acc.wait_for_everyone()
        summary: dict[str, Any] = {
            "kind": cfg.kind,
            "train_mode": cfg.train_mode,
            "steps": state.step,
            "pairs": len(items),
            "skipped_pairs": self.skipped,
            "skipped": self.skipped_reasons,
            "skipped_eval_pairs": self.skipped_eval,
            "processes": acc.num_processes,
            "train_seconds": round(train_s, 2),
            "cache_seconds": round(cache_s, 2),
            "tokens_per_second": round(tokens_all / train_s, 1) if train_s > 0 else None,
            "final_batch": last,
            "params": params,
            "resumed_from": resumed_from,
        }
        # sharded parameters (FSDP / ZeRO-3): the full weights are gathered by every process, then written once
        full = sharding.full_state_dict(acc, module) if sharding.sharded_parameters(acc) else None
        if self.main:
            state_dict = None
            if full is not None:
                prefix = "score_model." if isinstance(acc.unwrap_model(module), CachedTopScorer) else ""
                state_dict = {k[len(prefix) :]: v for k, v in full.items() if k.startswith(prefix)}
            self._save(summary, logger, t_start, state_dict)
        acc.wait_for_everyone()
        return self.out

    def _save(
        self, summary: dict[str, Any], logger: Any, t_start: float, state_dict: Optional[dict[str, torch.Tensor]] = None
    ) -> None:
        """The final model folder, atomically, with the held-out evaluation (main process). ``state_dict``: the
        gathered full weights when the parameters were sharded; the model is then evaluated as read back."""
        from safealign.utils.atomic import atomic_dir

        cfg = self.cfg
        self.model.score_config.base_model = self.model.score_config.base_model or cfg.model
        with atomic_dir(self.out) as tmp:
            self.model.write_into(tmp, self.proc, state_dict=state_dict)
            eval_metrics = None
            if self.eval_pairs:
                from safealign.models.score_metrics import evaluate_score_model

                if state_dict is None:
                    model = self.model
                else:
                    with sharding.whole_model_loading():
                        model = ScoreModel.from_pretrained(tmp).to(self.acc.device)
                model.eval()
                eval_metrics = evaluate_score_model(
                    model, self.proc, self.eval_pairs, batch_size=cfg.eval_batch_size, progress=self.bar
                )
                logger.log({"event": "eval", **{k: v for k, v in eval_metrics.items() if not isinstance(v, dict)}})
            summary["wall_seconds"] = round(time.time() - t_start, 2)
            if (self.out / "metrics.jsonl").exists():
                shutil.copy2(self.out / "metrics.jsonl", tmp / "metrics.jsonl")
            (tmp / "train_config.yaml").write_text(cfg.to_yaml())
            (tmp / "train_summary.json").write_text(json.dumps(summary, indent=2, default=str))
            if eval_metrics is not None:
                (tmp / "eval_metrics.json").write_text(json.dumps(eval_metrics, indent=2))
