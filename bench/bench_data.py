"""Data-layer throughput: rows/s of `load_records` on every file in ../shared/data and on the bundled demo sets,
and the time to regenerate the demo data. Prints figures; asserts nothing. Run: .venv/bin/python bench/bench_data.py
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from safealign.data.demo import DEMO_SETS
from safealign.data.demo.build import write_all
from safealign.data.io import load_records

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def timed(source: str, repeat: int = 3) -> tuple[str, int, float]:
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        res = load_records(source)
        best = min(best, time.perf_counter() - t)
    return res.schema, res.total_rows, best


def main() -> None:
    sources = [str(p) for p in sorted(SHARED.glob("*/*")) if p.is_file()] if SHARED.exists() else []
    sources += [f"demo:{name}" for name in DEMO_SETS]
    print(f"{'source':48s} {'schema':20s} {'rows':>6s} {'ms':>8s} {'rows/s':>9s}")
    total_rows, total_s = 0, 0.0
    for src in sources:
        schema, rows, sec = timed(src)
        total_rows, total_s = total_rows + rows, total_s + sec
        print(
            f"{Path(src).name if not src.startswith('demo:') else src:48s} {schema:20s} {rows:6d} {1000 * sec:8.1f} "
            f"{rows / sec:9.0f}"
        )
    print(f"{'all':48s} {'':20s} {total_rows:6d} {1000 * total_s:8.1f} {total_rows / total_s:9.0f}")
    with tempfile.TemporaryDirectory() as d:
        t = time.perf_counter()
        counts = write_all(Path(d))
        print(f"regenerate demo data: {sum(counts.values())} records + images in {time.perf_counter() - t:.2f} s")
    print(f"python {sys.version.split()[0]}; machine shared with other engineers (2 CPU cores), figures are indicative")


if __name__ == "__main__":
    main()
