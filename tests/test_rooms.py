"""Data flows one way between jaxpose's rooms (docs/ARCHITECTURE.md; issue #14 item 8): the 2D
pipeline imports none of the rooms built on it; the shells (the command, the pyopenpose-shaped
`OpenPose` class, the estimator) are imported by nobody but the package's front door; options ->
models, never back (`model.py` does not import `hub.py`). Read from the source with `ast`."""

from __future__ import annotations

import ast
from pathlib import Path

import jaxpose

PACKAGE = Path(jaxpose.__file__).parent
CORE = ("specs", "nets", "convert", "device", "assemble", "wholebody", "pipeline", "poses", "model",
        "hub", "errors", "paths")
BUILT_ON_IT = ("track", "train", "evaluate", "batch", "stream", "triangulation", "cameras",
               "calibration", "estimator", "options", "cli", "compat", "poses3d")
SHELLS = {"cli": ("jaxpose.__main__",), "compat": ("jaxpose",), "estimator": ("jaxpose",)}


def module_name(path: Path) -> str:
    parts = ("jaxpose",) + path.relative_to(PACKAGE).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports() -> dict[str, set[str]]:
    """Module -> the jaxpose modules it imports (anywhere in the file, lazy imports included)."""
    graph = {}
    for path in PACKAGE.rglob("*.py"):
        found = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found.add(node.module)
            elif isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
        graph[module_name(path)] = {m for m in found if m == "jaxpose" or m.startswith("jaxpose.")}
    return graph


def room(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def test_the_graph_is_read():
    graph = imports()
    assert "jaxpose.options.build" in graph["jaxpose.compat"]  # a known edge: the reader works
    assert "jaxpose.cli.run" in graph and "jaxpose.pipeline" in graph


def test_the_2d_pipeline_imports_no_room_built_on_it():
    wrong = [(src, dst) for src, dsts in imports().items() if room(src) in CORE
             for dst in dsts if room(dst) in BUILT_ON_IT]
    assert wrong == []


def test_shells_are_imported_only_by_the_front_door():
    wrong = [(src, dst) for src, dsts in imports().items() for dst in dsts
             if room(dst) in SHELLS and room(src) != room(dst) and src not in SHELLS[room(dst)]]
    assert wrong == []


def test_models_do_not_import_the_hub():
    assert not {m for m in imports()["jaxpose.model"] if room(m) == "hub"}
