"""Fuzzing every reader of users' files and every server route with a fixed seed: random bytes, text that is not
UTF-8, truncated rows, wrong types, huge fields and empty files. A reader either reads the input or stops with ONE
line (a SafealignError, which the CLI prints as ``error: ...`` with exit code 2); any other exception would reach the
user as a traceback. A server route answers 2xx or 4xx with an OpenAI-style error body, never a 5xx or a traceback.
"""

from __future__ import annotations

import copy
import json
import random
from pathlib import Path
from typing import Any, Callable

import pytest

from safealign.errors import SafealignError
from test_data_adapters import bench_row, btv_row, dpo_row, pku_row, sft_row

SEED = 20240521
CASES_PER_READER = 24  # x the readers below: a few hundred file cases


# ------------------------------------------------------------------------------------------------ the mutations


def _valid_rows() -> list[dict[str, Any]]:
    ours = {"prompt": "p", "responses": ["a", "b"], "better": 0, "safer": 1, "is_safe": [False, True]}
    prompts = {"prompt": "how do I bake bread?", "label": "benign"}
    guard = {"prompt": "how do I bake bread?", "label": "benign", "response": "knead", "severity": 1}
    rows = [pku_row(), btv_row(), sft_row(), dpo_row(), bench_row(), ours, prompts, guard]
    for r in rows:  # images as JSON-friendly text (the bytes of btv_row are not JSON)
        if isinstance(r.get("image"), dict):
            r["image"] = {"path": "missing.png"}
    return rows


WRONG = [None, 0, -1, 3.5, True, "", "x" * 3, [], [1, "a"], {}, {"k": [None]}, float("nan")]


def _wrong_types(rng: random.Random, row: dict[str, Any]) -> dict[str, Any]:
    row = copy.deepcopy(row)
    for key in rng.sample(sorted(row), k=min(len(row), rng.randint(1, 3))):
        row[key] = rng.choice(WRONG)
    return row


def _huge(rng: random.Random, row: dict[str, Any]) -> dict[str, Any]:
    row = copy.deepcopy(row)
    key = rng.choice(sorted(row))
    row[key] = "A" * rng.choice([10_000, 200_000]) if rng.random() < 0.7 else list(range(5000))
    return row


def _dumps(rows: list[Any], suffix: str) -> str:
    if suffix == ".json":
        return json.dumps(rows)
    if suffix == ".csv":
        keys = sorted({k for r in rows if isinstance(r, dict) for k in r})
        lines = [",".join(keys)] + [",".join(json.dumps(r.get(k)) if isinstance(r, dict) else "" for k in keys)
                                    for r in rows]
        return "\n".join(lines)
    if suffix in (".yaml", ".yml"):
        import yaml

        return yaml.safe_dump(rows[0] if rows else {}, allow_unicode=True)
    return "".join(json.dumps(r) + "\n" for r in rows)


def fuzz_bytes(rng: random.Random, suffix: str) -> bytes:
    """One hostile file of type ``suffix``."""
    base = rng.choice(_valid_rows())
    kind = rng.choice(["random", "non_utf8", "truncated", "wrong_types", "huge", "empty", "not_objects", "mixed"])
    if kind == "random":
        return bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 400)))
    if kind == "empty":
        return rng.choice([b"", b"\n", b"   \n\n", b"[]", b"{}", b"null"])
    if kind == "non_utf8":
        text = _dumps([base, base], suffix).encode()
        at = rng.randint(0, max(len(text) - 1, 0))
        return text[:at] + rng.choice([b"\xff\xfe", b"\xc3", b"\xed\xa0\x80", b"\x80\x80"]) + text[at:]
    if kind == "truncated":
        text = _dumps([base, base, base], suffix).encode()
        return text[: rng.randint(1, max(len(text) - 2, 1))]
    if kind == "wrong_types":
        return _dumps([_wrong_types(rng, base) for _ in range(3)], suffix).encode()
    if kind == "huge":
        return _dumps([_huge(rng, base)], suffix).encode()
    if kind == "not_objects":
        return _dumps([rng.choice(WRONG) for _ in range(3)], suffix).encode()
    return _dumps([base, _wrong_types(rng, base), rng.choice(WRONG)], suffix).encode()


# ------------------------------------------------------------------------------------------------ the readers


def _load_records(schema: str | None, skip: bool = False) -> Callable[[Path], Any]:
    def read(path: Path) -> Any:
        from safealign.data.io import load_records

        return load_records(str(path), schema=schema, skip_invalid=skip)

    return read


def _typed(name: str) -> Callable[[Path], Any]:
    def read(path: Path) -> Any:
        from safealign.data import io

        return getattr(io, name)(str(path))

    return read


def _janus(name: str) -> Callable[[Path], Any]:
    def read(path: Path) -> Any:
        from safealign.janus import data

        return getattr(data, name)(str(path))

    return read


def _config(cls_path: str) -> Callable[[Path], Any]:
    def read(path: Path) -> Any:
        import importlib

        module, name = cls_path.rsplit(".", 1)
        return getattr(importlib.import_module(module), name).from_yaml(path)

    return read


def _guard_file(path: Path) -> Any:
    from safealign.guard.training_data import read_labelled_file

    return read_labelled_file(path)


def _ppo_prompts(path: Path) -> Any:
    from safealign.train.ppo_lag import load_prompts

    return load_prompts(str(path))


def _policy(path: Path) -> Any:
    from safealign.guard.policy import Policy

    return Policy.load(str(path))


READERS: dict[str, tuple[Callable[[Path], Any], tuple[str, ...]]] = {
    **{f"load_records[{s}]": (_load_records(s), (".jsonl", ".json", ".csv"))
       for s in ("safealign", "pku_saferlhf", "beavertails_v", "multifaceted_sft", "multifaceted_dpo",
                 "multifaceted_bench", "prompts", None)},
    "load_records[auto, skip_invalid]": (_load_records(None, skip=True), (".jsonl", ".json", ".csv")),
    **{f"io.{n}": (_typed(n), (".jsonl", ".json")) for n in ("load_safety_pairs", "load_system_pairs",
                                                             "load_system_examples", "load_rubric_items",
                                                             "load_prompts")},
    **{f"janus.{n}": (_janus(n), (".jsonl", ".json", ".txt", ".csv"))
       for n in ("load_instructions", "load_system_examples", "load_system_pairs", "load_rubric_items")},
    "guard labelled file": (_guard_file, (".jsonl", ".json")),
    "ppo prompts": (_ppo_prompts, (".jsonl", ".json")),
    "guard policy": (_policy, (".yaml",)),
    **{f"config {c.rsplit('.', 1)[1]}": (_config(c), (".yaml",))
       for c in ("safealign.train.ppo_lag.PPOLagConfig", "safealign.train.score_config.RewardTrainConfig",
                 "safealign.janus.recipes.SFTTrainConfig", "safealign.janus.recipes.PreferenceTrainConfig",
                 "safealign.cli.evaluation.SafetyEvalConfig")},
}


@pytest.mark.parametrize("reader", sorted(READERS))
def test_readers_read_or_stop_with_one_line(tmp_path, reader):
    fn, suffixes = READERS[reader]
    rng = random.Random(f"{SEED}-{reader}")
    outcomes = {"read": 0, "error": 0}
    for i in range(CASES_PER_READER):
        suffix = suffixes[i % len(suffixes)]
        data = fuzz_bytes(rng, suffix)
        path = tmp_path / f"case{i}{suffix}"
        path.write_bytes(data)
        try:
            fn(path)
            outcomes["read"] += 1
        except SafealignError as e:
            assert "\n" not in str(e) and str(e), (reader, i, data[:200], str(e))
            outcomes["error"] += 1
        except Exception as e:  # noqa: BLE001 - what the test is for: this would be a traceback for the user
            pytest.fail(f"{reader}: case {i} ({suffix}, {data[:120]!r}) raised {type(e).__name__}: {e}")
    assert outcomes["error"] > 0  # the hostile inputs were refused somewhere, not all swallowed


def test_the_cli_prints_one_line_and_exits_2_on_hostile_files(tmp_path, capsys):
    from safealign.cli import main

    rng = random.Random(SEED)
    for i in range(12):
        suffix = [".jsonl", ".json", ".csv"][i % 3]
        path = tmp_path / f"c{i}{suffix}"
        path.write_bytes(fuzz_bytes(rng, suffix) if i else b"\xff\xfe")  # the two bytes first
        with pytest.raises(SystemExit) as done:
            main(["data", "inspect", str(path)])
        err = capsys.readouterr().err
        assert "Traceback" not in err
        if done.value.code:
            assert done.value.code == 2 and len([ln for ln in err.splitlines() if ln.startswith("error:")]) == 1, err
        if i == 0:
            assert done.value.code == 2 and "not UTF-8 text (byte 0xff at offset 0)" in err


# ------------------------------------------------------------------------------------------------ server routes


@pytest.fixture(scope="module")
def app_client():
    from fastapi.testclient import TestClient

    from safealign.backends.base import Backend
    from safealign.guard.pipeline import GuardrailPipeline
    from safealign.guard.rules import RuleGuard
    from safealign.serve import create_app

    class Echo(Backend):
        def generate(self, chats, params=None, images=None):
            return ["fine." for _ in chats]

    app = create_app(GuardrailPipeline(RuleGuard([{"pattern": r"\bbomb\b", "category": "weapons_drugs",
                                                   "severity": "severe"}]), Echo()),
                     max_input_chars=2000, max_body_bytes=20_000, default_max_tokens=8)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


def _bodies(rng: random.Random) -> list[bytes]:
    chat = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 4}
    moderation = {"input": ["hi", "there"]}
    out = []
    for base in (chat, moderation):
        for _ in range(20):
            kind = rng.choice(["random", "non_utf8", "truncated", "wrong_types", "huge", "empty", "nested"])
            text = json.dumps(base).encode()
            if kind == "random":
                out.append(bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 200))))
            elif kind == "non_utf8":
                at = rng.randint(0, len(text))
                out.append(text[:at] + b"\xff\xfe" + text[at:])
            elif kind == "truncated":
                out.append(text[: rng.randint(0, len(text) - 1)])
            elif kind == "wrong_types":
                out.append(json.dumps(_wrong_types(rng, base)).encode())
            elif kind == "huge":
                out.append(json.dumps(_huge(rng, base)).encode())
            elif kind == "empty":
                out.append(rng.choice([b"", b"{}", b"[]", b"null", b"0"]))
            else:
                body = copy.deepcopy(base)
                if "messages" in body:
                    body["messages"] = [rng.choice([{"role": rng.choice(WRONG + ["user", "bot"]),
                                                     "content": rng.choice(WRONG + [[{"type": "text"}]])},
                                                    rng.choice(WRONG)]) for _ in range(rng.randint(0, 3))]
                else:
                    body["input"] = [rng.choice(WRONG) for _ in range(rng.randint(0, 3))]
                out.append(json.dumps(body).encode())
    return out


ROUTES = [("post", "/v1/chat/completions"), ("post", "/v1/moderations"), ("get", "/v1/models"), ("get", "/health"),
          ("post", "/v1/models"), ("get", "/v1/chat/completions"), ("post", "/no/such/route")]


@pytest.mark.parametrize("method,route", ROUTES, ids=[f"{m}-{r}" for m, r in ROUTES])
def test_server_routes_answer_4xx_never_5xx(app_client, method, route):
    rng = random.Random(f"{SEED}-{route}-{method}")
    for body in _bodies(rng):
        r = app_client.request(method.upper(), route, content=body, headers={"content-type": "application/json"})
        assert r.status_code < 500, (route, body[:200], r.status_code, r.text[:300])
        assert "Traceback" not in r.text
        if r.status_code >= 400:
            err = r.json()["error"]
            assert err["message"] and "\n" not in err["message"], r.text[:300]
