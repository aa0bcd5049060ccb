"""Install size of ferlab's core (prediction) and of `[all]`: the built wheel installed into an
empty venv each, measured on disk, with the package count.

    python benchmarks/install_size.py [--all] [--out benchmarks/results/install_size]

`--all` also installs the extras (torch first, as `torch==2.13.0`, so pip takes the CPU build
that lies on disk here instead of a CUDA one). Writes JSON and a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def du(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file() and not f.is_symlink())


def install(wheel: Path, where: Path, extra: str | None) -> dict:
    base = getattr(sys, "_base_executable", sys.executable)
    subprocess.run([base, "-m", "venv", str(where)], check=True)
    py = str(where / "bin" / "python")
    empty = du(where)
    if extra:
        subprocess.run([py, "-m", "pip", "install", "-q", "torch==2.13.0"], check=True)
    spec = f"{wheel}[{extra}]" if extra else str(wheel)
    subprocess.run([py, "-m", "pip", "install", "-q", spec], check=True)
    packages = subprocess.run([py, "-m", "pip", "freeze"], capture_output=True, text=True, check=True).stdout.split()
    return {
        "install": f"ferlab[{extra}]" if extra else "ferlab",
        "mb": round((du(where) - empty) / 1e6, 1),  # what ferlab and its dependencies add
        "venv_mb": round(du(where) / 1e6, 1),  # the whole venv, its own pip and setuptools included
        "packages": len([p for p in packages if not p.startswith("ferlab")]),
        "torch": any(p.lower().startswith("torch==") for p in packages),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--all", action="store_true", help="also measure ferlab[all]")
    ap.add_argument("--out", default="benchmarks/results/install_size", help="JSON and Markdown (without suffix)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        t = Path(tmp)
        subprocess.run(
            [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", tmp, str(ROOT)],
            check=True,
        )
        (wheel,) = t.glob("ferlab-*.whl")
        rows = [install(wheel, t / "core", None)]
        if args.all:
            rows.append(install(wheel, t / "all", "all"))
    result = {"python": sys.version.split()[0], "platform": sys.platform, "machine": os.uname().machine, "rows": rows}
    out = Path(args.out)
    out.with_suffix(".json").write_text(json.dumps(result, indent=2) + "\n")
    lines = [
        "## Install size",
        "",
        f"Install size into an empty venv (Python {result['python']}, {result['platform']} {result['machine']}; "
        "`python benchmarks/install_size.py --all`):",
        "",
        "| install | added to the venv | the whole venv (with its pip, setuptools) | packages | torch |",
        "|---|---:|---:|---:|---|",
        *(
            f"| `pip install {r['install']}` | {r['mb']:,.0f} MB | {r['venv_mb']:,.0f} MB | {r['packages']} | "
            f"{'yes' if r['torch'] else 'no'} |"
            for r in rows
        ),
    ]
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
