"""Check that every relative link (and #anchor) in the repository's Markdown pages resolves.

    python3 .ci/check_links.py ROOT      # exit 1 and one line per broken link
"""

import re
import sys
from pathlib import Path

LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")


def slug(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens."""
    h = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return h.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    out, fence = set(), False
    for line in page.read_text().splitlines():
        if line.startswith("```"):
            fence = not fence
        if not fence and line.startswith("#"):
            out.add(slug(line.lstrip("#")))
    return out


def broken_links(root: Path, page: Path) -> list[str]:
    text = re.sub(r"```.*?```", "", page.read_text(), flags=re.S)  # links inside code blocks are examples
    bad = []
    for m in LINK.finditer(text):
        link = m.group(1)
        if re.match(r"[a-z]+://", link) or link.startswith("mailto:"):
            continue
        path, _, frag = link.partition("#")
        target = (page.parent / path).resolve() if path else page.resolve()
        if not target.exists():
            bad.append(f"{page.relative_to(root)}: missing {link}")
        elif frag and (target.is_dir() or target.suffix != ".md" or frag not in anchors(target)):
            bad.append(f"{page.relative_to(root)}: bad anchor {link}")
    return bad


def main() -> None:
    root = Path(sys.argv[1] if len(sys.argv) > 1 else ".")
    pages = [root / "README.md", *sorted((root / "docs").glob("*.md")), root / "bench/README.md",
             *sorted((root / "bench/results").glob("*.md"))]
    bad = [line for p in pages if p.exists() for line in broken_links(root, p)]
    print("\n".join(bad + [f"{len(pages)} pages checked, {len(bad)} broken links"]))
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
