"""The package's structure: no import cycles between ferlab's modules (imports inside functions
included: a cycle hidden in a function is still a cycle in the design)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph(root: Path) -> dict[str, set[str]]:
    """ferlab module → the ferlab modules it imports anywhere in its body."""
    files = {module_name(p, root): p for p in (root / "ferlab").rglob("*.py")}
    graph: dict[str, set[str]] = {m: set() for m in files}
    for mod, path in files.items():
        package = mod if path.name == "__init__.py" else mod.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    base = ".".join(
                        package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else [])
                    )
                # `from ferlab.x import y` may import the submodule ferlab.x.y
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in files else base for a in node.names]
            for target in targets:
                t = target
                while t and t not in files:  # ferlab.a.b.func → ferlab.a.b
                    t = t.rpartition(".")[0]
                if t and t != mod and t.startswith("ferlab"):
                    graph[mod].add(t)
    # importing ferlab.a.b runs ferlab/__init__ and ferlab/a/__init__ first, but those are
    # packages, not the modules' own choices: only direct edges count
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(m: str) -> list[str] | None:
        state[m] = 1
        stack.append(m)
        for n in sorted(graph.get(m, ())):
            if state.get(n) == 1:
                return [*stack[stack.index(n) :], n]
            if n not in state and (c := visit(n)):
                return c
        stack.pop()
        state[m] = 2
        return None

    for m in sorted(graph):
        if m not in state and (c := visit(m)):
            return c
    return None


def test_ferlab_has_no_import_cycles():
    cycle = find_cycle(import_graph(SRC))
    assert cycle is None, " → ".join(cycle)


def test_the_cycle_finder_finds_a_planted_cycle(tmp_path):
    pkg = tmp_path / "ferlab"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from ferlab.sub.b import thing\n")
    (pkg / "sub" / "b.py").write_text("def thing():\n    from ferlab import a  # inside a function\n")
    (pkg / "c.py").write_text("from . import a\n")
    cycle = find_cycle(import_graph(tmp_path))
    assert cycle is not None and set(cycle) == {"ferlab.a", "ferlab.sub.b"}


@pytest.mark.parametrize("name", ["ferlab.cli", "ferlab.evaluation.compare"])
def test_known_modules_are_in_the_graph(name):
    assert name in import_graph(SRC)


@pytest.mark.slow
def test_an_installed_wheel_carries_the_study_configs_and_models(tmp_path):
    """The built wheel, installed on its own into a folder (`pip install --target`) and run with this
    interpreter's dependencies: `ferlab reproduce --help`, every study config, the bundled
    default's files. No venv: a venv made from inside another venv would not see its packages."""
    import os
    import subprocess
    import sys

    root = SRC.parent
    run = lambda *cmd, **kw: subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=600, **kw)
    r = run(
        sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp_path), str(root)
    )
    assert r.returncode == 0, r.stderr[-2000:]
    (wheel,) = tmp_path.glob("ferlab-*.whl")
    target = tmp_path / "site"
    r = run(
        sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-index", "--target", str(target), str(wheel)
    )
    assert r.returncode == 0, r.stderr[-2000:]
    env = {**os.environ, "PYTHONPATH": str(target)}
    venv = target
    py = sys.executable
    code = (
        "import ferlab, pathlib\n"
        "from ferlab.reproduce import _budget, _config\n"
        "from ferlab.training.config import SHIPPED_CONFIGS as CONFIGS\n"
        "from ferlab.card import read_card\n"
        "assert str(pathlib.Path(ferlab.__file__)).startswith(" + repr(str(venv)) + "), ferlab.__file__\n"
        "names = {e.config for b in ('smoke', 'cpu', 'full') for e in _budget(b, None)[0]}\n"
        "for n in sorted(names): _config(n, 'DATA', {})\n"
        "card = read_card(None)\n"
        "assert (pathlib.Path(card['_path']).parent / card['inference']['onnx_int8']).is_file()\n"
        "print(len(names), len(list(CONFIGS.glob('*.yaml'))))\n"
    )
    r = run(py, "-c", code, cwd=tmp_path, env=env)
    assert r.returncode == 0, r.stderr[-2000:]
    used, shipped = map(int, r.stdout.split())
    assert used == 8 and shipped >= used  # the study's 7 experiments and the CPU ViT arm's stages
    r = run(py, "-m", "ferlab.cli", "reproduce", "--budget", "smoke", "--help", cwd=tmp_path, env=env)
    assert r.returncode == 0 and "--budget" in r.stdout


# Layers, lowest first. A module may import its own layer and those below, never one above:
# detectors never reach into inference, inference never into evaluation or training, data and
# models never into the layers that use them.
LAYERS = [
    {"ferlab.errors", "ferlab.labels", "ferlab.paths", "ferlab.io", "ferlab.tta", "ferlab.options"},
    {
        "ferlab.preprocess",
        "ferlab.card",
        "ferlab.run_dir",
        "ferlab.runtime",
        "ferlab.measure",
        "ferlab.figures",
    },
    {"ferlab.detectors", "ferlab.models", "ferlab.data", "ferlab.checkpoint"},
    {"ferlab.inference", "ferlab.catalogue"},
    {"ferlab.evaluation", "ferlab.training", "ferlab.ensembling", "ferlab.weights_bundle"},
    {"ferlab.reproduce", "ferlab.serve"},
    {"ferlab.cli"},
]


def layer_of(module: str) -> int | None:
    for i, layer in enumerate(LAYERS):
        if any(module == m or module.startswith(m + ".") for m in layer):
            return i
    return None


def upward_imports(graph: dict[str, set[str]]) -> list[str]:
    return sorted(
        f"{m} (layer {layer_of(m)}) → {t} (layer {layer_of(t)})"
        for m, targets in graph.items()
        for t in targets
        if layer_of(m) is not None and layer_of(t) is not None and layer_of(t) > layer_of(m)
    )


def test_every_module_has_a_layer():
    unplaced = sorted(m for m in import_graph(SRC) if m != "ferlab" and layer_of(m) is None)
    assert not unplaced, f"give these a layer in LAYERS: {unplaced}"


def test_imports_only_point_down():
    assert upward_imports(import_graph(SRC)) == []


def test_the_layer_check_finds_a_planted_upward_import(tmp_path):
    pkg = tmp_path / "ferlab"
    (pkg / "detectors").mkdir(parents=True)
    (pkg / "inference").mkdir()
    for f in ("__init__.py", "detectors/__init__.py", "inference/__init__.py", "inference/onnx.py"):
        (pkg / f).write_text("")
    (pkg / "detectors" / "centerface.py").write_text("def f():\n    from ferlab.inference.onnx import x\n")
    assert upward_imports(import_graph(tmp_path)) == [
        "ferlab.detectors.centerface (layer 2) → ferlab.inference.onnx (layer 3)"
    ]
