"""The look-alike set (package data): files parse, pairs are well formed, the split rule is fixed, minimums hold."""

from __future__ import annotations

import json
import re
from collections import Counter
from importlib import resources

import pytest

from safealign.data.lookalikes import (
    FRAMES,
    HELDOUT_ONLY_STYLES,
    LOOKALIKES_DIR,
    REDACTION_MARK,
    load_answers,
    load_no_trigger,
    load_pairs,
    split_of,
)
from safealign.data.records import PromptRecord
from safealign.errors import DataError
from safealign.guard.categories import CATEGORY_NAMES

PAIRS = load_pairs()
ANSWERS = load_answers()
NO_TRIGGER = load_no_trigger()

# Words a "no trigger" prompt must not use (whole words, with their usual endings).
TRIGGERS = re.compile(
    r"\b(?:bombs?|bombing|explosives?|explosion|kill\w*|murder\w*|hack\w*|steal\w*|stole\w*|drugs?|drugged|weapons?|"
    r"guns?|firearms?|poison\w*|suicid\w*|self-harm|meth|cocaine|heroin|fentanyl|rape[sd]?|raping|porn\w*|nudes?|"
    r"sex\w*|terror\w*|shoot\w*|shot|stab\w*|attack\w*|assault\w*|abus\w*|fraud\w*|scam\w*|phish\w*|malware|"
    r"ransomware|launder\w*|dox\w*|stalk\w*|slurs?|racis\w*|hate\w*|tortur\w*|overdos\w*|counterfeit\w*|pirat\w*|"
    r"illegal\w*|knife|knives|blackmail\w*|extort\w*|kidnap\w*|traffick\w*|groom\w*|bully\w*|bullied|harass\w*|"
    r"hurt\w*|harm\w*|die|dies|dead|death)\b",
    re.IGNORECASE,
)


def _pairs_by_id():
    out: dict[str, list] = {}
    for p in PAIRS:
        out.setdefault(p.pair_id, []).append(p)
    return out


def test_files_are_package_data():
    base = resources.files("safealign.data.lookalikes")
    for name in ("pairs.jsonl", "no_trigger.jsonl", "answers.jsonl", "README.md"):
        assert base.joinpath(name).is_file(), name


def test_every_line_is_a_json_object():
    for name in ("pairs.jsonl", "no_trigger.jsonl", "answers.jsonl"):
        for n, line in enumerate((LOOKALIKES_DIR / name).read_text(encoding="utf-8").splitlines(), 1):
            assert isinstance(json.loads(line), dict), (name, n)


def test_every_pair_has_one_benign_and_one_harmful_member_with_the_same_frame_and_category():
    pairs = _pairs_by_id()
    for pair_id, members in pairs.items():
        assert sorted(m.label for m in members) == ["benign", "harmful"], pair_id
        assert len({m.frame for m in members}) == 1, pair_id
        assert len({m.category for m in members}) == 1, pair_id
        assert {m.id for m in members} == {f"{pair_id}-b", f"{pair_id}-h"}


def test_ids_unique_and_no_duplicate_prompts():
    ids = [p.id for p in PAIRS] + [a.id for a in ANSWERS] + [r.id for r in NO_TRIGGER]
    assert len(ids) == len(set(ids))
    prompts = [p.prompt.strip().lower() for p in PAIRS] + [r.prompt.strip().lower() for r in NO_TRIGGER]
    dup = [p for p, c in Counter(prompts).items() if c > 1]
    assert not dup, dup[:3]


def test_frames_and_categories_are_canonical_and_all_categories_are_covered():
    assert {p.frame for p in PAIRS} <= set(FRAMES)
    assert len({p.frame for p in PAIRS}) >= 12
    assert {p.category for p in PAIRS} | {r.category for r in NO_TRIGGER} <= set(CATEGORY_NAMES)
    per_cat = Counter(p.category for p in PAIRS if p.label == "harmful")
    assert set(per_cat) == set(CATEGORY_NAMES)
    assert min(per_cat.values()) >= 15
    assert set(r.category for r in NO_TRIGGER if r.kind == "no_trigger") == set(CATEGORY_NAMES)


def test_counts_meet_the_minimums():
    assert len(_pairs_by_id()) >= 320
    assert sum(r.kind == "no_trigger" for r in NO_TRIGGER) >= 120
    assert sum(r.kind == "blatant" for r in NO_TRIGGER) >= 60
    assert len({r.category for r in NO_TRIGGER if r.kind == "blatant"}) >= 12


def test_split_rule_is_fixed():
    # sha256 first 8 hex digits, as an int, % 4 == 0 -> heldout (worked out once and written down here)
    assert split_of("pair-0001") == "train"  # eb842e4a -> 3951308362 % 4 == 2
    assert split_of("pair-0002") == "heldout"  # 04867b10 -> 75922192 % 4 == 0
    assert split_of("pair-0003") == "train"  # d4e4a2ed -> 3571753709 % 4 == 1
    assert split_of("pair-0014") == "heldout"  # 3dcd3c6c -> 1036860524 % 4 == 0
    assert split_of("pair-0100") == "train"  # 8a28ae03 -> 2317921795 % 4 == 3
    assert split_of("nt-0001") == "train"  # c6a9bfa6 -> % 4 == 2
    assert [split_of("pair-0002") for _ in range(3)] == ["heldout"] * 3


def test_split_is_about_a_quarter_and_never_splits_a_pair():
    pairs = _pairs_by_id()
    held = sum(split_of(pid) == "heldout" for pid in pairs)
    assert 0.18 <= held / len(pairs) <= 0.32
    for pid, members in pairs.items():
        assert {m.split for m in members} == {split_of(pid)}
    for a in ANSWERS:
        assert a.split == split_of(a.pair_id) == split_of(a.prompt_id.rsplit("-", 1)[0])
    train, held_rows = load_pairs(split="train"), load_pairs(split="heldout")
    assert len(train) + len(held_rows) == len(PAIRS)
    assert not {p.pair_id for p in train} & {p.pair_id for p in held_rows}


def test_every_prompt_has_its_answers():
    kinds = {}
    for a in ANSWERS:
        kinds.setdefault(a.prompt_id, set()).add(a.kind)
    for p in PAIRS:
        assert kinds.get(p.id) == ({"helpful"} if p.label == "benign" else {"refusal", "compliance"}), p.id
    for a in ANSWERS:
        assert a.unsafe == (a.kind == "compliance")


def test_heldout_only_styles_are_absent_from_train_and_present_in_heldout():
    assert len(HELDOUT_ONLY_STYLES) >= 3
    train_styles = {a.style for a in load_answers(split="train")}
    assert not train_styles & HELDOUT_ONLY_STYLES
    held = Counter(a.style for a in load_answers(split="heldout"))
    assert all(held[s] >= 10 for s in HELDOUT_ONLY_STYLES)
    # held-out also keeps seen styles, so seen and unseen can be compared
    assert sum(c for s, c in held.items() if s not in HELDOUT_ONLY_STYLES) >= 100


def test_every_compliant_answer_is_redacted():
    compliant = [a for a in ANSWERS if a.kind == "compliance"]
    assert len(compliant) == len(_pairs_by_id())
    assert all(REDACTION_MARK in a.response for a in compliant)


def test_no_trigger_prompts_avoid_trigger_words_and_blatant_ones_use_them():
    quiet = [r for r in NO_TRIGGER if r.kind == "no_trigger"]
    loud = [r for r in NO_TRIGGER if r.kind == "blatant"]
    offenders = [r.prompt for r in quiet if TRIGGERS.search(r.prompt)]
    assert not offenders, offenders[:3]
    assert sum(bool(TRIGGERS.search(r.prompt)) for r in loud) / len(loud) >= 0.6
    assert all(len(r.prompt.split()) <= 12 for r in loud)


def test_rows_convert_to_prompt_records():
    rec = PAIRS[0].to_prompt_record()
    assert isinstance(rec, PromptRecord) and rec.label in ("benign", "harmful") and rec.id == PAIRS[0].id
    assert NO_TRIGGER[0].to_prompt_record().label == "harmful"


def _write(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def _pair(pid="p-1", frame="games", category="violence"):
    labels = ("benign", "harmful")
    rows = [{"id": f"{pid}-{lab[0]}", "pair_id": pid, "label": lab, "prompt": f"{lab} {pid}"} for lab in labels]
    return [dict(r, frame=frame, category=category) for r in rows]


@pytest.mark.parametrize(
    "mutate, where",
    [
        (lambda rows: rows[1].update(frame="history"), "row 2, field 'frame'"),
        (lambda rows: rows[1].update(frame="cooking"), "row 2, field 'frame'"),
        (lambda rows: rows[0].pop("prompt"), "row 1, field 'prompt'"),
        (lambda rows: rows[1].update(label="benign"), "row 2, field 'label'"),
    ],
)
def test_bad_pair_rows_give_one_line_errors(tmp_path, mutate, where):
    rows = _pair()
    mutate(rows)
    path = _write(tmp_path / "pairs.jsonl", rows)
    with pytest.raises(DataError) as e:
        load_pairs(path)
    assert str(e.value).startswith(f"{path}, {where}: ") and "\n" not in str(e.value)


def test_a_pair_without_its_counterpart_is_an_error(tmp_path):
    path = _write(tmp_path / "pairs.jsonl", _pair()[:1])
    with pytest.raises(DataError, match="field 'pair_id'.*no harmful member"):
        load_pairs(path)


def _answer(**kw):
    row = {
        "id": "a-1", "prompt_id": "p-1-h", "prompt": "harmful p-1", "response": "Sure: [redacted step].",
        "response_label": "unsafe", "kind": "compliance", "style": "numbered",
    }
    row.update(kw)
    return row


@pytest.mark.parametrize(
    "row, field, reason",
    [
        (_answer(response="Sure, here is how."), "response", "redacted"),
        (_answer(response_label="safe"), "response_label", "unsafe"),
        (_answer(kind="helpful", response_label="safe", style="direct"), "kind", "refusal answers, not helpful"),
        (_answer(prompt_id="p-9-h"), "prompt_id", "unknown prompt id"),
        (_answer(prompt="something else"), "prompt", "differs"),
        (_answer(style="sonnet"), "style", "must be one of"),
    ],
)
def test_bad_answer_rows_give_one_line_errors(tmp_path, row, field, reason):
    pairs = _write(tmp_path / "pairs.jsonl", _pair())
    path = _write(tmp_path / "answers.jsonl", [row])
    with pytest.raises(DataError) as e:
        load_answers(path, pairs_path=pairs)
    assert str(e.value).startswith(f"{path}, row 1, field '{field}': ") and reason in str(e.value)


def test_heldout_only_style_in_a_train_pair_is_an_error(tmp_path):
    assert split_of("p-1") == "train"  # so the style below is out of place
    pairs = _write(tmp_path / "pairs.jsonl", _pair("p-1"))
    path = _write(tmp_path / "answers.jsonl", [_answer(style="roleplay")])
    with pytest.raises(DataError, match="field 'style'.*held-out only"):
        load_answers(path, pairs_path=pairs)


def test_bad_split_name_is_an_error():
    with pytest.raises(DataError, match="split must be one of"):
        load_pairs(split="test")
