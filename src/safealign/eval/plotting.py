"""What the report's pieces share for plotting: matplotlib set up for files (Agg, the house style), the plots of one
report (each saved as a PNG and embedded as a data URI) and the HTML grid of figures."""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path
from typing import Any

from safealign.utils.atomic import atomic_file

PALETTE = ["#0969da", "#cf222e", "#1a7f37", "#8250df", "#bf8700", "#0a7f8c", "#e16f24", "#57606a"]


def pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update(
        {
            "figure.dpi": 110,
            "axes.spines.top": False,
            "axes.spines.right": False,
            "axes.grid": True,
            "grid.alpha": 0.25,
            "font.size": 9.5,
            "axes.titlesize": 11,
            "axes.titleweight": "bold",
            "legend.frameon": False,
        }
    )
    return plt


class Plots:
    def __init__(self, out_dir: Path):
        self.out_dir = out_dir
        self.paths: list[Path] = []
        self.embedded: dict[str, str] = {}

    def save(self, fig: Any, name: str) -> str:
        plt = pyplot()
        buf = io.BytesIO()
        fig.tight_layout()
        fig.savefig(buf, format="png", bbox_inches="tight")
        plt.close(fig)
        data = buf.getvalue()
        path = self.out_dir / f"{name}.png"
        with atomic_file(path, "wb") as f:
            f.write(data)
        self.paths.append(path)
        uri = "data:image/png;base64," + base64.b64encode(data).decode("ascii")
        self.embedded[name] = uri
        return uri

    def add_file(self, path: Path, name: str) -> str:
        """Embed a PNG written elsewhere (e.g. by the trade-off plotter) and keep it with the report's plots."""
        data = Path(path).read_bytes()
        uri = "data:image/png;base64," + base64.b64encode(data).decode("ascii")
        self.paths.append(Path(path))
        self.embedded[name] = uri
        return uri


def figures_html(figs: list[tuple[str, str]], wide: bool = False, wide_captions: tuple[str, ...] = ()) -> str:
    """A grid of figures; ``wide`` makes every figure full-width, ``wide_captions`` only those whose caption starts
    so."""

    def cls(c: str) -> str:
        return ' class="wide"' if any(c.startswith(w) for w in wide_captions) else ""

    return (
        f'<div class="plots{" wide" if wide else ""}">'
        + "".join(
            f'<figure{cls(c)}><img alt="{html.escape(c)}" src="{u}"><figcaption>{html.escape(c)}</figcaption></figure>'
            for c, u in figs
        )
        + "</div>"
    )
