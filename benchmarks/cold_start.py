"""Cold start: wall seconds for `ferlab predict PHOTO` as a new process, as a user runs it, with
the torch and the onnxruntime backend, beside what Python alone and `import torch` cost in the
same run (timings on a shared machine vary; the ratios to those baselines travel better).
As shipped, the default runs its int8 ONNX file from the package (no torch, no export); the fp32
onnxruntime export is made once before timing (its first use does that).

Writes benchmarks/results/cold_start.json and .md. Medians over --repeats runs, interleaved.
Usage: python benchmarks/cold_start.py [--repeats 7]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

import matplotlib

from ferlab.measure import machine_info, write_results

OUT = Path(__file__).parent / "results"
PHOTO = Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"

PREDICT = [sys.executable, "-m", "ferlab.cli", "predict", str(PHOTO)]
CASES = {
    "python -c pass (interpreter alone)": [sys.executable, "-c", "pass"],
    "python -c 'import torch'": [sys.executable, "-c", "import torch"],
    "ferlab predict PHOTO (as shipped)": PREDICT,
    "ferlab predict PHOTO --backend torch": [*PREDICT, "--backend", "torch"],
    "ferlab predict PHOTO --backend onnxruntime --precision fp32": [
        *PREDICT,
        "--backend",
        "onnxruntime",
        "--precision",
        "fp32",
    ],
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--out", default=str(OUT))
    args = ap.parse_args()
    # the first fp32 onnxruntime use exports the model to the cache: not part of a cold start after that
    subprocess.run(
        CASES["ferlab predict PHOTO --backend onnxruntime --precision fp32"], check=True, capture_output=True
    )
    times: dict[str, list[float]] = {k: [] for k in CASES}
    for _ in range(args.repeats):
        for name, cmd in CASES.items():
            t = time.perf_counter()
            subprocess.run(cmd, check=True, capture_output=True)
            times[name].append(time.perf_counter() - t)
    med = {k: statistics.median(v) for k, v in times.items()}
    base = med["python -c 'import torch'"]
    res = {
        "photo": str(PHOTO),
        "repeats": args.repeats,
        "median_s": med,
        "all_s": times,
        "machine": machine_info(),
    }
    m = res["machine"]
    md = [
        f"## Cold start: one photo, a new process (median of {args.repeats}, interleaved)",
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores, CPU only. Photo: matplotlib's grace_hopper.jpg (one face); "
        "the default model as shipped.",
        "",
        "| command | median s | ÷ `import torch` |",
        "|---|---:|---:|",
    ]
    md += [f"| `{k}` | {v:.2f} | {v / base:.2f} |" for k, v in med.items()]
    md += ["", "Reproduce: `python benchmarks/cold_start.py`", ""]
    write_results(args.out, "cold_start", res, md)


if __name__ == "__main__":
    main()
