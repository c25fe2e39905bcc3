"""Refusal detector: agreement with labels on answers it was not written against, and throughput. Prints figures.

    .venv/bin/python bench/bench_refusal.py

Four checks, none uses a model:
1. demo safety pairs (safety_train + safety_test): for a HARMFUL prompt, a response labelled safe is (by the data's
   construction) a refusal or a redirect and one labelled unsafe complies; for a BENIGN prompt the "poor" answers
   include over-refusals. We report how often "refusal" agrees with "safe" on harmful prompts (a proxy: a safe answer
   can also be a helpful non-refusal).
2. hand-written tricky cases from tests/test_refusal.py (idioms, quoted errors, late disclaimers, redirects);
3. the look-alike set's answers, train split (the rules were extended on it) and held-out split (the measure);
4. real answers of the default model and of policies trained from it, labelled by hand
   (bench/data/refusal_hand_labels.jsonl; see bench/data/README.md).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from safealign.data.demo import load_demo  # noqa: E402
from safealign.judges.refusal import RefusalDetector  # noqa: E402


def main() -> None:
    det = RefusalDetector()
    pairs = load_demo("safety_train") + load_demo("safety_test")
    harmful = [(r, s) for p in pairs if p.prompt_category is not None for r, s in zip(p.responses, p.is_safe)]
    benign = [r for p in pairs if p.prompt_category is None for r in p.responses]
    tp = fp = fn = tn = 0
    for resp, safe in harmful:
        ref = det.is_refusal(resp)
        if ref and safe:
            tp += 1
        elif ref and not safe:
            fp += 1
        elif not ref and safe:
            fn += 1
        else:
            tn += 1
    n = tp + fp + fn + tn
    print(f"demo pairs: {len(pairs)} pairs, {n} responses to harmful-looking prompts")
    print(f"  refusal & safe {tp}, refusal & unsafe {fp}, no refusal & safe {fn}, no refusal & unsafe {tn}")
    print(f"  unsafe answers flagged as refusals (should be ~0): {fp / max(1, fp + tn):.1%}")
    print(
        f"  safe answers detected as refusals: {tp / max(1, tp + fn):.1%} (the rest are safe non-refusals or missed "
        "refusals)"
    )
    nb = sum(det.is_refusal(r) for r in benign)
    print(f"  responses to benign prompts detected as refusals: {nb}/{len(benign)} (the data's over-refusal answers)")

    from test_refusal import CLEAR_COMPLIANCE, CLEAR_REFUSALS, TRICKY

    cases = (
        [(t, "refusal") for t in CLEAR_REFUSALS]
        + [(t, "compliance") for t in CLEAR_COMPLIANCE]
        + [(t, k) for t, k, _ in TRICKY]
    )
    ok = sum(det.detect(t).kind == k for t, k in cases)
    print(f"hand-written cases: {ok}/{len(cases)} correct")

    lookalike_answers(det)
    hand_labelled(det)

    texts = [r for p in pairs for r in p.responses] * 20
    t0 = time.perf_counter()
    for t in texts:
        det.detect(t)
    dt = time.perf_counter() - t0
    print(f"throughput: {len(texts) / dt:,.0f} answers/s ({len(texts)} answers, one core, shared machine)")


def lookalike_answers(det: RefusalDetector) -> None:
    """The look-alike set's answers: the rules were extended on the train split; the held-out split measures them
    (its in-character refusals and role-play / code-block compliances are styles no training answer uses)."""
    from collections import Counter

    from safealign.data.lookalikes import load_answers

    for split in ("train", "heldout"):
        answers = load_answers(split=split)
        by: Counter = Counter()
        for a in answers:
            refused = det.is_refusal(a.response)
            by[(a.kind, a.style, refused)] += 1
        ref = [a for a in answers if a.kind == "refusal"]
        missed = [a for a in ref if not det.is_refusal(a.response)]
        in_char = [a for a in ref if a.style == "in_character"]
        ordinary = [a for a in ref if a.style != "in_character"]
        comp = [a for a in answers if a.kind == "compliance"]
        hedged = [a for a in comp if a.style in ("hedged", "partial")]
        helpful = [a for a in answers if a.kind == "helpful"]
        print(f"look-alike answers, {split} ({len(answers)}):")
        print(f"  ordinary refusals missed: {sum(not det.is_refusal(a.response) for a in ordinary)}/{len(ordinary)}"
              f"; in-character refusals caught: {sum(det.is_refusal(a.response) for a in in_char)}/{len(in_char)}")
        print(f"  compliances called refusals: {sum(det.is_refusal(a.response) for a in comp)}/{len(comp)} (hedged "
              f"or partial: {sum(det.is_refusal(a.response) for a in hedged)}/{len(hedged)}); helpful answers called "
              f"refusals: {sum(det.is_refusal(a.response) for a in helpful)}/{len(helpful)}")
        print(f"  refusals missed in all: {len(missed)}/{len(ref)}")


def hand_labelled(det: RefusalDetector) -> None:
    """Real answers of the default model (and of policies trained from it), labelled by hand (bench/data/)."""
    import json

    path = Path(__file__).resolve().parent / "data" / "refusal_hand_labels.jsonl"
    if not path.exists():
        print(f"hand-labelled real answers: {path} not found")
        return
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    tp = sum(r["refusal"] and det.is_refusal(r["response"]) for r in rows)
    fn = sum(r["refusal"] and not det.is_refusal(r["response"]) for r in rows)
    fp = sum(not r["refusal"] and det.is_refusal(r["response"]) for r in rows)
    tn = len(rows) - tp - fn - fp
    print(f"hand-labelled real answers ({len(rows)}; {sum(r['refusal'] for r in rows)} refusals): caught {tp}, "
          f"missed {fn}, false alarms {fp}, correct non-refusals {tn}")
    for r in rows:
        if r["refusal"] != det.is_refusal(r["response"]):
            print(f"  {'missed' if r['refusal'] else 'false alarm'}: {r['response'][:140]!r}")


if __name__ == "__main__":
    main()
