"""The import rules of the house (docs: HELPERS/DESIGN "layers"), checked on the source by reading it (AST, nothing
is imported):

1. an import points down the stack or stays in its layer (``LAYERS`` below is the one table of layers);
2. the top (``TOP``: cli, serve, demo, testing) is never imported by the library; among the top, only the CLI (and
   ``python -m safealign``) imports another top package;
3. no import cycle, between modules or between packages (``train`` -> ``pluralistic`` -> ``train`` is a cycle even
   when no two modules import each other);
4. no private name (``_x``) is imported from another module; a package's private modules are imported only from
   inside that package.

Every import counts, at module level or inside a function. The checker is tested on small synthetic trees that
hold the kinds of violation the house once had.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path
from typing import Iterator, Optional

SRC = Path(__file__).resolve().parents[1] / "src"
ROOT = "safealign"

# the one table: package (or top-level module) of safealign -> its layer; imports point to the same or a lower layer
LAYERS: dict[str, int] = {
    # bottom: records, readers, configs, errors, console/progress output, atomic writes
    "data": 0, "config": 0, "errors": 0, "ui": 0, "utils": 0,
    # model loading, score heads, generation backends, formulas, model-free judges
    "models": 1, "backends": 1, "losses": 1, "judges": 1,
    # trainers, the guardrail, system-message alignment, pluralistic safe RLHF
    "train": 2, "guard": 2, "janus": 2, "pluralistic": 2,
    # judges and reports over models and answers; recipes that chain trainers and judges; dry runs of recipes
    "eval": 3, "recipes": 3, "dryrun": 3,
    # top: parse, call, print; test support; never imported by the library
    "cli": 4, "serve": 4, "demo": 4, "testing": 4, "__main__": 4,
}
TOP = {"cli", "serve", "demo", "testing", "__main__"}
IMPORTS_TOP = {"cli", "__main__"}  # the only top packages that may import another top package


def module_names(src: Path) -> dict[str, Path]:
    """Dotted module name -> file, for every module of the package under ``src``."""
    out = {}
    for path in sorted((src / ROOT).rglob("*.py")):
        parts = list(path.relative_to(src).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def _is_private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def imports_of(name: str, path: Path, modules: dict[str, Path]) -> Iterator[tuple[str, Optional[str], int]]:
    """(module imported, name imported from it or None, line) for each safealign import in the file."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == ROOT or alias.name.startswith(ROOT + "."):
                    yield alias.name, None, node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            if source != ROOT and not source.startswith(ROOT + "."):
                continue
            for alias in node.names:
                sub = f"{source}.{alias.name}"
                if sub in modules:  # ``from package import module``
                    yield sub, None, node.lineno
                else:
                    yield source, alias.name, node.lineno


def package_of(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one node (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph.get(start, ()))))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def violations(src: Path = SRC) -> list[str]:
    """Every broken rule under ``src``, one line each (``file:line: what``)."""
    modules = module_names(src)
    problems: list[str] = []
    module_graph: dict[str, set[str]] = defaultdict(set)
    package_graph: dict[str, set[str]] = defaultdict(set)
    package_edge: dict[tuple[str, str], str] = {}  # (package, package it imports) -> one import that does it
    for name, path in modules.items():
        here = package_of(name)
        where = f"{path.relative_to(src)}"
        if here and here not in LAYERS:
            problems.append(f"{where}: package '{here}' has no layer in LAYERS")
            continue
        for target, imported, line in imports_of(name, path, modules):
            at = f"{where}:{line}"
            there = package_of(target)
            if target != name:
                module_graph[name].add(target)
            if here and there and there != here:
                package_graph[here].add(there)
                package_edge.setdefault((here, there), at)
                if there not in LAYERS:
                    problems.append(f"{at}: imports {target}, whose package has no layer in LAYERS")
                elif there in TOP and here not in IMPORTS_TOP:
                    problems.append(f"{at}: {name} imports {target} (the top is never imported from below)")
                elif LAYERS[there] > LAYERS[here]:
                    problems.append(f"{at}: {name} (layer {LAYERS[here]}) imports {target} (layer {LAYERS[there]}), "
                                    "an import pointing up")
            if imported is not None and _is_private(imported):
                problems.append(f"{at}: {name} imports the private name {imported} from {target}")
            parts = target.split(".")
            for i, part in enumerate(parts):
                owner = ".".join(parts[:i])
                if _is_private(part) and name != owner and not name.startswith(owner + "."):
                    problems.append(f"{at}: {name} imports {target}, private to the package {owner}")
    for cycle in _cycles(module_graph):
        problems.append("import cycle between modules: " + " <-> ".join(cycle))
    for cycle in _cycles(package_graph):
        edges = [f"{a} -> {b} ({package_edge[a, b]})" for a in cycle for b in cycle if (a, b) in package_edge]
        problems.append("import cycle between packages: " + " <-> ".join(cycle) + "; " + "; ".join(edges))
    return list(dict.fromkeys(problems))


def test_the_source_keeps_the_layers() -> None:
    problems = violations()
    assert not problems, "\n".join(problems)


def test_every_package_has_a_layer() -> None:
    packages = {package_of(m) for m in module_names(SRC)} - {""}
    assert packages <= set(LAYERS), sorted(packages - set(LAYERS))


# ------------------------------------------------------------------------------ the checker on synthetic trees


def _tree(tmp_path: Path, files: dict[str, str]) -> Path:
    for rel, text in {"__init__.py": "", **files}.items():
        path = tmp_path / ROOT / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        for parent in path.relative_to(tmp_path / ROOT).parents:
            init = tmp_path / ROOT / parent / "__init__.py"
            if not init.exists():
                init.write_text("")
        path.write_text(text)
    return tmp_path


def _one(problems: list[str], *needles: str) -> None:
    assert any(all(n in p for n in needles) for p in problems), (needles, problems)


def test_a_clean_tree_passes(tmp_path: Path) -> None:
    src = _tree(tmp_path, {
        "ui.py": "import rich\n",
        "data/io.py": "from safealign.ui import console\n",
        "models/score.py": "from safealign.data.io import x\nfrom . import loading\n",
        "models/loading.py": "",
        "cli/common.py": "from safealign.ui import console\n",
        "cli/data.py": "from safealign.cli.common import console\nfrom safealign.demo import run\n",
        "demo.py": "from safealign.eval.report import build\n",
        "eval/report.py": "from safealign.models import score\n",
        "data/adapters/_common.py": "",
        "data/adapters/pku.py": "from safealign.data.adapters._common import RowContext\n",
    })
    assert violations(src) == []


def test_the_library_never_imports_the_cli_demo_or_server(tmp_path: Path) -> None:
    src = _tree(tmp_path, {
        "train/common.py": "def bar():\n    from safealign.cli.common import console\n",  # inside a function counts
        "eval/safety.py": "import safealign.demo\n",
        "guard/pipeline.py": "from safealign.serve import create_app\n",
        "demo.py": "from safealign.cli.common import console\n",  # demo is top, yet only the CLI imports the top
        "cli/common.py": "", "serve/__init__.py": "def create_app(): ...\n",
    })
    problems = violations(src)
    _one(problems, "train/common.py:2", "safealign.cli.common")
    _one(problems, "eval/safety.py", "safealign.demo")
    _one(problems, "guard/pipeline.py", "safealign.serve")
    _one(problems, "demo.py", "safealign.cli.common")


def test_an_import_pointing_up_is_caught(tmp_path: Path) -> None:
    src = _tree(tmp_path, {
        "models/score.py": "def f():\n    from safealign.train.score_data import encode_conversations\n",
        "data/collect.py": "from safealign.eval.refusal import is_refusal\n",
        "pluralistic/tradeoff.py": "from safealign.eval import refusal\n",
        "train/score_data.py": "", "eval/refusal.py": "",
    })
    problems = violations(src)
    _one(problems, "models/score.py", "imports safealign.train.score_data", "pointing up")
    _one(problems, "data/collect.py", "safealign.eval.refusal", "pointing up")
    _one(problems, "pluralistic/tradeoff.py", "safealign.eval.refusal", "pointing up")


def test_cycles_between_modules_and_between_packages_are_caught(tmp_path: Path) -> None:
    src = _tree(tmp_path, {
        "guard/pipeline.py": "def stream():\n    from safealign.guard.streaming import GuardedStream\n",
        "guard/streaming.py": "def f():\n    from safealign.guard.pipeline import last_user_prompt\n",
        "train/sft.py": "from safealign.pluralistic.attacks import attack_training_pairs\n",
        "pluralistic/attacks.py": "",
        "pluralistic/tradeoff.py": "from safealign.train.rollout import to_chat\n",
        "train/rollout.py": "",
    })
    problems = violations(src)
    _one(problems, "cycle between modules", "safealign.guard.pipeline", "safealign.guard.streaming")
    _one(problems, "cycle between packages", "pluralistic", "train")
    assert not any("cycle between modules" in p and "train" in p for p in problems)  # no two modules import each other


def test_private_names_stay_in_their_module(tmp_path: Path) -> None:
    src = _tree(tmp_path, {
        "train/sft.py": "_shuffle_cap = 1\n_attack_pairs = 2\n",
        "train/preference.py": "from safealign.train.sft import JanusTrainConfig, _attack_pairs, _shuffle_cap\n",
        "eval/report.py": "def f():\n    from safealign.pluralistic.tradeoff import _claim_line, compare\n",
        "pluralistic/tradeoff.py": "",
        "data/adapters/_common.py": "",
        "data/io.py": "from safealign.data.adapters._common import RowContext\n",
        "data/demo/__init__.py": "", "data/demo/_content.py": "",
        "data/demo/build.py": "from safealign.data.demo import _content\n",  # its own package's private module: fine
    })
    problems = violations(src)
    _one(problems, "train/preference.py", "private name _attack_pairs")
    _one(problems, "train/preference.py", "private name _shuffle_cap")
    _one(problems, "eval/report.py:2", "private name _claim_line")
    _one(problems, "data/io.py", "private to the package safealign.data.adapters")
    assert not any("data/demo/build.py" in p for p in problems)


def test_a_package_without_a_layer_is_caught(tmp_path: Path) -> None:
    src = _tree(tmp_path, {"rounds/collect.py": "from safealign.data import io\n", "data/io.py": ""})
    _one(violations(src), "package 'rounds' has no layer")
