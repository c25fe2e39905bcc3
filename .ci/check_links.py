"""Check every relative link (and #anchor) in the repository's Markdown pages resolves."""
import re, sys, unicodedata
from pathlib import Path
root = Path(sys.argv[1])
pages = [root / "README.md", *sorted((root / "docs").glob("*.md")), root / "bench/README.md", *sorted((root / "bench/results").glob("*.md"))]
link = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
def slug(h):
    h = h.strip().lower()
    h = re.sub(r"[^\w\- ]", "", h)  # GitHub: drop punctuation, keep word chars, hyphens, spaces
    return h.replace(" ", "-")
def anchors(p):
    out, fence = set(), False
    for line in p.read_text().splitlines():
        if line.startswith("```"): fence = not fence
        if not fence and line.startswith("#"):
            out.add(slug(line.lstrip("#")))
    return out
bad = 0
for p in pages:
    text = p.read_text()
    # skip fenced code
    text = re.sub(r"```.*?```", "", text, flags=re.S)
    for m in link.finditer(text):
        t = m.group(1)
        if re.match(r"[a-z]+://", t) or t.startswith("mailto:"): continue
        path, _, frag = t.partition("#")
        target = (p.parent / path).resolve() if path else p.resolve()
        if not target.exists():
            print(f"{p.relative_to(root)}: missing {t}"); bad += 1; continue
        if frag:
            if target.is_dir() or target.suffix != ".md" or frag not in anchors(target):
                print(f"{p.relative_to(root)}: bad anchor {t}"); bad += 1
print(f"{len(pages)} pages checked, {bad} broken links")
sys.exit(1 if bad else 0)
