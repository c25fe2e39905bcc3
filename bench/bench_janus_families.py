"""The constraint-family taxonomy: its size (families, phrasings, combinations, distinct messages) and checker speed.

Speed: every family's checker on answers of about 60, 600 and 6,000 words (prose, bullets, a table, a code block,
headings, quotes, brackets), and on adversarial single-line inputs (an unclosed quote, unclosed brackets, a run of
asterisks) 10x longer than the next, to show that time grows linearly. Prints a table; writes nothing.

    .venv/bin/python bench/bench_janus_families.py [--samples 2000] [--repeat 20]
"""

from __future__ import annotations

import argparse
import json
import random
import time

from safealign.janus.families import REGISTRY, check_constraint, statistics

_BLOCK = (
    '# A Short Guide\n\nHere is the plan, with *key* ideas and a "quoted" phrase. It costs 3.50 today.\n\n'
    "- first point\n- second point\n\n1. one\n2. two\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n"
    "```python\nprint('hi')\n```\n\nDear [name], see you at [place]. P.S. bring water.\n"
)
_ADVERSARIAL = {"unclosed quote": '"' + "word " * 2000, "unclosed brackets": "[" * 2000 + "x", "asterisks": "*a" * 2000}


def _time(fn, repeat: int) -> float:
    t0 = time.perf_counter()
    for _ in range(repeat):
        fn()
    return (time.perf_counter() - t0) / repeat


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=2000)
    ap.add_argument("--repeat", type=int, default=20)
    args = ap.parse_args()

    t0 = time.perf_counter()
    st = statistics(samples=args.samples)
    st["seconds"] = round(time.perf_counter() - t0, 2)
    print(json.dumps({k: v for k, v in st.items() if k != "groups"}, indent=1))
    print("groups:", {g: len(ns) for g, ns in st["groups"].items()})

    rng = random.Random(0)
    cons = {name: fam.sample(rng) for name, fam in REGISTRY.families.items()}
    answers = {f"{60 * k} words": _BLOCK * k for k in (1, 10, 100)}
    print(f"\n{'family':<20}" + "".join(f"{k:>14}" for k in answers) + "   (microseconds per check)")
    worst = {k: ("", 0.0) for k in answers}
    for name, c in cons.items():
        row = []
        for k, text in answers.items():
            us = 1e6 * _time(lambda: check_constraint(text, c), args.repeat)
            row.append(us)
            if us > worst[k][1]:
                worst[k] = (name, us)
        print(f"{name:<20}" + "".join(f"{us:>14.1f}" for us in row))
    print("slowest:", {k: f"{n} {us:.0f} us" for k, (n, us) in worst.items()})

    print("\nadversarial inputs: seconds for all families, 1x and 10x the length (ratio ~10 = linear)")
    for label, text in _ADVERSARIAL.items():
        small = _time(lambda: [check_constraint(text, c) for c in cons.values()], max(1, args.repeat // 4))
        big_text = text * 10
        big = _time(lambda: [check_constraint(big_text, c) for c in cons.values()], max(1, args.repeat // 4))
        print(f"{label:<20} {small:8.4f} s {big:8.4f} s  ratio {big / small:5.1f}")


if __name__ == "__main__":
    main()
