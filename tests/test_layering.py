"""The package's imports point one way: no part imports a higher layer, and no imports go round in a cycle.

The layers and the parser are ``tools/import_graph.py`` (which prints the whole graph); this test
fails with the offending import lines.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def load_tool():
    spec = importlib.util.spec_from_file_location("import_graph", ROOT / "tools" / "import_graph.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_no_import_points_up():
    tool = load_tool()
    edges = tool.collect_edges(ROOT)
    wrong = {f"{a} -> {b}": sorted(edges[(a, b)]) for a, b in tool.upward(edges)}
    assert not wrong, f"imports against the layering (tools/import_graph.py LAYERS): {wrong}"


def test_no_import_cycle():
    tool = load_tool()
    assert tool.cycles(tool.collect_edges(ROOT)) == []


def test_every_part_has_a_layer():
    tool = load_tool()
    for a, b in tool.collect_edges(ROOT):
        tool.layer_of(a), tool.layer_of(b)  # KeyError naming a new part that needs a place


def test_the_checker_sees_an_upward_arrow_and_a_cycle():
    """The test cannot pass by seeing nothing: a made-up graph with both problems is caught."""
    tool = load_tool()
    edges = {("sampling", "evaluation"): {"x": False}, ("data", "metrics"): {"y": False},
             ("cli", "callbacks"): {"z": True}, ("callbacks", "cli"): {"w": False}}
    assert tool.upward(edges) == [("callbacks", "cli"), ("data", "metrics"), ("sampling", "evaluation")]
    assert tool.cycles(edges) == [["callbacks", "cli"]]
