"""The README's two commands are the ones that work: CI runs the test command exactly as written,
and it takes PyTorch's CPU build, not the multi-gigabyte CUDA one a plain `pip install` pulls."""

from __future__ import annotations

import re

from conftest import ROOT


def _commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    return re.findall(r"```bash\n(.+?)\n```", text)


def test_the_test_command_installs_the_cpu_build_first_and_ci_runs_it_exactly():
    install, tests = _commands()[:2]
    assert install == "pip install . && ferlab predict --sample"
    steps = tests.split(" && ")
    assert steps[0].startswith("python3 -m pip install -q torch==") and "download.pytorch.org/whl/cpu" in steps[0]
    assert steps[1] == 'python3 -m pip install -q -e ".[dev]"' and steps[-1] == "python3 -m pytest -q"
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert tests in ci  # the same line, not a variant of it
