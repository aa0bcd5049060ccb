"""Measuring on this machine, for every report, card and benchmark: what the machine is, and the
median time of a call. Imports torch only where torch is already in use."""

from __future__ import annotations

import contextlib
import os
import platform
import statistics
import sys
import time


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_info() -> dict:
    """CPU model, cores, Python; torch's version, threads and GPU where torch is loaded."""
    info = {"cpu": cpu_model(), "cores": os.cpu_count(), "python": platform.python_version()}
    torch = sys.modules.get("torch")
    if torch is not None:
        info |= {
            "torch_threads": torch.get_num_threads(),
            "torch": torch.__version__,
            "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        }
    else:
        info |= {"torch": None, "gpu": None}
    return info


def median_ms(fn, x, repeats: int = 50, warmup: int = 5) -> float:
    """Median milliseconds of fn(x) on this machine, after a warm-up (under torch's inference
    mode where torch is loaded, so autograd bookkeeping is not timed)."""
    torch = sys.modules.get("torch")
    with torch.inference_mode() if torch is not None else contextlib.nullcontext():
        for _ in range(warmup):
            fn(x)
        times = []
        for _ in range(repeats):
            t = time.perf_counter()
            fn(x)
            times.append(time.perf_counter() - t)
    return statistics.median(times) * 1000


def write_results(out_dir, name: str, results: dict, markdown: list[str]) -> None:
    """The one way benchmarks report: OUT/NAME.json (the numbers) and OUT/NAME.md (the table that
    docs/benchmarks.md assembles), each written atomically; the table is printed too."""
    from pathlib import Path

    from ferlab.io import atomic_write_json, atomic_write_text

    out = Path(out_dir)
    atomic_write_json(out / f"{name}.json", results)
    atomic_write_text(out / f"{name}.md", "\n".join(markdown))
    print("\n".join(markdown))
