"""Refusal detector: agreement with labels on answers it was not written against, and throughput. Prints figures.

    .venv/bin/python bench/bench_refusal.py

Two checks, neither uses a model:
1. demo safety pairs (safety_train + safety_test): for a HARMFUL prompt, a response labelled safe is (by the data's
   construction) a refusal or a redirect and one labelled unsafe complies; for a BENIGN prompt the "poor" answers
   include over-refusals. We report how often "refusal" agrees with "safe" on harmful prompts (a proxy: a safe answer
   can also be a helpful non-refusal).
2. hand-written tricky cases from tests/test_refusal.py (idioms, quoted errors, late disclaimers, redirects).
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

    texts = [r for p in pairs for r in p.responses] * 20
    t0 = time.perf_counter()
    for t in texts:
        det.detect(t)
    dt = time.perf_counter() - t0
    print(f"throughput: {len(texts) / dt:,.0f} answers/s ({len(texts)} answers, one core, shared machine)")


if __name__ == "__main__":
    main()
