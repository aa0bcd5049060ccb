"""Label stability of the bundled default on FER-2013 PublicTest faces: how often the predicted
label survives re-saving as JPEG (q75), mirroring, resizing to 256×300, and a 2-px box shift
(ferlab.evaluation.stability), under each test-time augmentation mode. Writes
benchmarks/results/stability-MODEL.json and .md; --write-card records the shipped mode's numbers in
the bundled model's card (metrics.stability).

Usage: python benchmarks/stability.py [--data ZIP] [--model NAME] [--modes shipped|all|none,flip,...] [--write-card]

On a 2-core AVX2 CPU one view over the 3,589 faces and their 4 perturbations takes ~10 minutes, so
`multi` (12 views) takes about two hours: `--modes shipped` measures the shipped mode alone.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from ferlab.card import DEFAULT_MODEL, read_card, shipped_tta
from ferlab.data import load_fer2013
from ferlab.evaluation.stability import PERTURBATIONS, consistency
from ferlab.inference.recognizer import Recognizer
from ferlab.measure import machine_info, write_results
from ferlab.paths import default_data
from ferlab.tta import TTA_MODES

OUT = Path(__file__).parent / "results"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default=default_data())
    ap.add_argument("--model", default=DEFAULT_MODEL)
    ap.add_argument("--limit", type=int, help="a class-stratified subset of N faces (quick look)")
    ap.add_argument("--write-card", action="store_true", help="store the shipped mode's result in the card")
    ap.add_argument("--modes", default="all", help="TTA modes to measure: all, shipped, or a comma list")
    ap.add_argument("--out", default=str(OUT))
    args = ap.parse_args()
    shipped = shipped_tta(read_card(args.model))
    modes = {"all": list(TTA_MODES), "shipped": [shipped]}.get(args.modes) or args.modes.split(",")
    if unknown := sorted(set(modes) - set(TTA_MODES)):
        ap.error(f"--modes: unknown mode(s) {', '.join(unknown)}; choose from {', '.join(TTA_MODES)}")
    val = load_fer2013(args.data).split("val").limited(args.limit)
    faces = np.asarray(val.images)
    rows = {}
    for mode in modes:
        rec = Recognizer(args.model, backend="onnxruntime", tta=mode)
        rows[mode] = consistency(rec.probabilities, faces)
        print(mode, rows[mode], flush=True)
    res = {"model": args.model, "data": args.data, "split": "val (PublicTest)", "n": len(faces), "shipped_tta": shipped}
    res |= {"by_tta": rows, "machine": machine_info()}
    md = [
        f"# Label stability of `{args.model}` on FER-2013 PublicTest (n={len(faces)})",
        "",
        "Fraction of faces whose predicted label is unchanged when the face is re-saved as JPEG (quality 75), "
        "mirrored, resized to 256×300 and cropped again, or its box shifted by 2 px; `all`: unchanged under "
        "every one of them.",
        "",
        "| test-time augmentation | " + " | ".join(PERTURBATIONS) + " | all |",
        "|---|" + "---:|" * (len(PERTURBATIONS) + 1),
    ]
    for mode, r in rows.items():
        tag = " (shipped)" if mode == shipped else ""
        md.append(f"| {mode}{tag} | " + " | ".join(f"{r[k]:.4f}" for k in [*PERTURBATIONS, "all"]) + " |")
    flags = f" --model {args.model} --modes {args.modes}" + (" --write-card" if args.write_card else "")
    md += ["", f"Reproduce: `python benchmarks/stability.py{flags}`", ""]
    write_results(args.out, f"stability-{args.model}", res, md)
    if args.write_card and not args.limit and shipped in rows:
        from ferlab.weights_bundle import add_card_metrics

        add_card_metrics(args.model, {"stability": {**rows[shipped], "tta": shipped, "by_tta": rows}})
        print(f"card of {args.model}: metrics.stability written")


if __name__ == "__main__":
    main()
