"""PPO-Lagrangian's prompts: where they come from (:func:`load_prompts`), whether the named per-category constraints
occur in them (:func:`check_constraint_names`) and which ones each process takes at each step (:func:`prompt_batch`:
a seeded permutation per epoch, so that a resumed run sees the same order)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

from safealign.data.records import LABELS, PromptRecord
from safealign.errors import ConfigError, DataError
from safealign.utils.jsonl import read_json_rows


def load_prompts(spec: str) -> list[PromptRecord]:
    """'demo' (prompts of the bundled safety_train pairs), 'demo:eval' (held-out eval prompts) or a .jsonl/.json
    file."""
    if spec in ("demo", "demo:eval"):
        # the prompts of the bundled safety_train pairs; "demo:eval" is the held-out evaluation set (harmful + benign
        # look-alikes), for evaluation only. The demo generator gives harmful prompts (only) a prompt category; the
        # responses do not tell (some harmful prompts have two refusals, some benign ones an unsafe answer)
        from safealign.data.demo import load_demo

        if spec == "demo:eval":
            return list(load_demo("eval_prompts"))
        seen: dict[str, PromptRecord] = {}
        for pair in load_demo("safety_train"):
            if pair.prompt in seen or pair.images:
                continue
            harmful = pair.prompt_category is not None
            cat = pair.prompt_category or "benign"
            seen[pair.prompt] = PromptRecord(
                prompt=pair.prompt, system=pair.system, category=cat, label="harmful" if harmful else "benign",
                id=pair.id,
            )
        return list(seen.values())
    path = Path(spec)
    if not path.exists():
        raise ConfigError(f"prompt file not found: {spec}")
    rows = read_json_rows(path)
    out = []
    for i, row in enumerate(rows, 1):
        text = next(
            (row[k] for k in ("prompt", "question", "instruction", "goal") if isinstance(row.get(k), str)), None
        )
        if not text:
            raise DataError("no prompt text (expected one of prompt/question/instruction/goal)", str(path), i, "prompt")
        for key in ("image", "system", "category", "id"):
            if row.get(key) is not None and not isinstance(row[key], str):
                raise DataError(f"must be a string, got {type(row[key]).__name__}", str(path), i, key)
        image = None
        if row.get("image"):
            from PIL import Image, UnidentifiedImageError

            ip = Path(row["image"])
            ip = ip if ip.is_absolute() else path.parent / ip
            if not ip.is_file():
                raise DataError(f"image not found: {ip}", str(path), i, "image")
            try:
                image = Image.open(ip).convert("RGB")
            except (UnidentifiedImageError, OSError) as e:
                raise DataError(f"unreadable image {ip} ({type(e).__name__})", str(path), i, "image") from None
        label = row.get("label")
        if label is not None and label not in LABELS:
            raise DataError(f"label must be harmful or benign, got {label!r}", str(path), i, "label")
        out.append(
            PromptRecord(
                prompt=text, system=row.get("system"), image=image, category=row.get("category"), label=label,
                id=row.get("id"),
            )
        )
    if not out:
        raise DataError("no prompts", str(path))
    return out


def check_constraint_names(cfg: Any, prompts: Sequence[PromptRecord]) -> None:
    """A per-category constraint (``cfg.constraints`` prompt_category / prompt_label) that no prompt carries would
    leave its lambda still and the run silently unconstrained for it: an error naming the values the prompts do
    carry."""
    if cfg.constraints not in ("prompt_category", "prompt_label"):
        return
    field = "category" if cfg.constraints == "prompt_category" else "label"
    have = {getattr(r, field) for r in prompts} - {None}
    if field == "label":  # every label is a valid name: an all-benign batch has nothing to constrain, but is no mistake
        have |= set(LABELS)
    missing = [n for n in cfg.constraint_names if n not in have]
    if missing:
        raise ConfigError(
            f"constraint_names {missing} match no prompt's {field} in {cfg.prompts} (the prompts carry: "
            f"{', '.join(sorted(have)[:12]) or 'none'})"
        )


def prompt_batch(
    prompts: Sequence[PromptRecord], step: int, seed: int, batch_size: int, rank: int = 0, world: int = 1
) -> list[PromptRecord]:
    """The ``batch_size`` prompts of process ``rank`` (of ``world``) at ``step``: the global batch of a step is
    ``batch_size * world`` consecutive positions of an endless sequence of per-epoch permutations (seeded by
    ``seed`` and the epoch), each process taking its slice."""
    import torch

    n, B = len(prompts), batch_size
    G = B * world
    out = []
    perms: dict[int, list[int]] = {}
    for i in range(step * G + rank * B, step * G + rank * B + B):
        epoch, pos = divmod(i, n)
        if epoch not in perms:
            g = torch.Generator().manual_seed(seed * 1000 + epoch)
            perms[epoch] = torch.randperm(n, generator=g).tolist()
        out.append(prompts[perms[epoch][pos]])
    return out
