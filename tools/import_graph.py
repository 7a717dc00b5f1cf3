"""Import edges between the parts of ``restart_lightning``, the arrows that point up, and the cycles.

A part is a top-level module (``losses``) or a subpackage (``sampling``); ``reliability`` is split
into its modules because it holds both small foundations (``errors``, ``safe_load``) and the
pre-flight glue on top. Imports inside functions count too (marked ``lazy``): deferring an import
hides a dependency from import time, not from the design.

    python tools/import_graph.py            # edges, upward arrows, cycles
    python tools/import_graph.py --check    # exit 1 when there is an upward arrow or a cycle
"""

from __future__ import annotations

import ast
import sys
from collections import defaultdict
from pathlib import Path

PACKAGE = "restart_lightning"
SPLIT = {"reliability"}  # subpackages whose modules are parts of their own

# Lowest first. A part may import parts of lower layers; parts in one layer import each other only
# where the layer is open (foundations and the glue on top); the core packages stand alone.
LAYERS: list[tuple[str, bool, tuple[str, ...]]] = [
    ("foundation", True, (
        "constraints", "memory", "precision", "quiet", "threads", "config_files", "run_outputs", "vp_sde", "pixels",
        "reference_stats",
        "reliability.errors", "reliability.safe_load", "reliability.nonfinite", "reliability.resume",
        "reliability.checkpoint_io", "reliability.preemption", "reliability.output_checks",
    )),
    ("core", False, (
        "data", "networks", "preconditioning", "sampling", "metrics", "guidance", "ema", "sigma_buckets",
    )),
    ("training", True, ("losses", "module")),
    ("evaluation", False, ("evaluation",)),
    ("adapters", False, ("adapters",)),
    ("callbacks", False, ("callbacks",)),
    ("tuning", False, ("tuning",)),  # diagnose and tune: run the evaluation's pieces under a Trainer
    # reliability's __init__ re-exports the pre-flight validation, so it stands with it on top
    ("top", True, ("cli", "cli_checks", "sampler_args", "__main__", "reliability")),
]


def part_of(module: str) -> str:
    """``restart_lightning.sampling.plan`` -> ``sampling``; ``restart_lightning.reliability.errors`` -> itself."""
    pieces = module.split(".")[1:]
    if not pieces:
        return "__init__"
    if pieces[0] in SPLIT and len(pieces) > 1:
        return ".".join(pieces[:2])
    return pieces[0]


def layer_of(part: str) -> int:
    """The index of the layer naming ``part`` (a split part falls back to its package's layer)."""
    for candidate in (part, part.split(".")[0]):
        for index, (_, _, parts) in enumerate(LAYERS):
            if candidate in parts:
                return index
    raise KeyError(f"{part!r} is in no layer of tools/import_graph.py: add it to LAYERS")


def module_name(path: Path, root: Path) -> str:
    relative = path.relative_to(root).with_suffix("")
    names = list(relative.parts)
    if names[-1] == "__init__":
        names = names[:-1] if len(names) > 1 else names
    return ".".join(names)


def imported_modules(tree: ast.Module, module: str, is_package: bool) -> list[tuple[str, bool]]:
    """(absolute module name, lazy) for every import of the package in one file."""
    package = module if is_package else module.rpartition(".")[0]
    top_level = {id(node) for node in tree.body}
    found = []
    for node in ast.walk(tree):
        lazy = id(node) not in top_level
        if isinstance(node, ast.Import):
            found += [(alias.name, lazy) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            found.append((target, lazy))
    return [(name, lazy) for name, lazy in found if name == PACKAGE or name.startswith(PACKAGE + ".")]


def collect_edges(root: Path) -> dict[tuple[str, str], dict[str, bool]]:
    """(from part, to part) -> {"file -> module": lazy} over every file of the package."""
    edges: dict[tuple[str, str], dict[str, bool]] = defaultdict(dict)
    for path in sorted((root / PACKAGE).rglob("*.py")):
        module = module_name(path, root)
        tree = ast.parse(path.read_text(), filename=str(path))
        source = part_of(module) if module != PACKAGE else "__init__"
        if path.name == "__init__.py" and source.split(".")[0] in SPLIT:
            source = source + ".__init__" if "." not in source else source
        for target_module, lazy in imported_modules(tree, module, path.name == "__init__.py"):
            target = part_of(target_module)
            if target != source:
                edges[(source, target)][f"{module} -> {target_module}"] = lazy
    return edges


def upward(edges) -> list[tuple[str, str]]:
    """Edges that import a higher layer, or a peer in a closed layer."""
    wrong = []
    for source, target in edges:
        if source.endswith("__init__") and target.startswith(source.removesuffix(".__init__")):
            continue  # a package's __init__ re-exporting its own modules
        low, high = layer_of(target), layer_of(source)
        if low > high or (low == high and not LAYERS[low][1]):
            wrong.append((source, target))
    return sorted(wrong)


def cycles(edges) -> list[list[str]]:
    """Strongly connected parts (Tarjan) with more than one member."""
    graph: dict[str, set[str]] = defaultdict(set)
    for source, target in edges:
        graph[source].add(target)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
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

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(found)


def report(root: Path) -> tuple[str, int]:
    edges = collect_edges(root)
    lines = ["# layers, lowest first (open: peers may import each other)"]
    lines += [f"{i} {name}{' (open)' if is_open else ''}: {', '.join(parts)}"
              for i, (name, is_open, parts) in enumerate(LAYERS)]
    lines.append("\n# edges (part -> part: imports; lazy = inside a function)")
    for source, target in sorted(edges):
        how = edges[(source, target)]
        tag = " (lazy)" if all(how.values()) else ""
        lines.append(f"{source} -> {target}{tag}")
    wrong = upward(edges)
    lines.append(f"\n# upward arrows: {len(wrong)}")
    for source, target in wrong:
        lines.append(f"{source} -> {target}: " + "; ".join(sorted(edges[(source, target)])))
    loops = cycles(edges)
    lines.append(f"\n# cycles: {len(loops)}")
    lines += [" <-> ".join(loop) for loop in loops]
    return "\n".join(lines), len(wrong) + len(loops)


def main(argv: list[str]) -> int:
    root = Path(__file__).resolve().parents[1]
    text, problems = report(root)
    print(text)
    return 1 if "--check" in argv and problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
