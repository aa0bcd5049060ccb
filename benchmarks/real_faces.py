"""Real faces unlike FER-2013's (issue 29): each bundled model as it ships, on SFEW 2.0 Train (857
aligned film faces, used for choice only, never trained on) and FER+ Valid, under each class prior
(`--prior none|uniform|collection`) and each framing of the film faces:

- crop: the dataset's own crops, each taken as one face (`ferlab evaluate --data SFEW`);
- detect+align: our detector finds the face in the crop and frames it as FER-2013 frames faces
  (upright on the eyes, ferlab.inference.faces) — `--detect`;
- detect, square: the detector's box with a 10% margin, no alignment — `--detect --no-align`.

Balanced accuracy (the mean of per-class recalls: SFEW is 20% happy, 6% disgust) and the recall
of the classes users miss most (fear, disgust, sad, angry) beside accuracy.

Usage: python benchmarks/real_faces.py [--models fer-vgg-wide-ferplus fer-vgg-wide]
Writes benchmarks/results/real_faces.json and .md. Needs ../shared/data/sfew and ../shared/data/ferplus.
"""

from __future__ import annotations

import argparse
import zipfile
from pathlib import Path

import numpy as np

from ferlab.card import DEFAULT_MODEL
from ferlab.evaluation.evaluate import evaluate_ref
from ferlab.measure import machine_info, write_results
from ferlab.options import PRIORS, RecognizerOptions
from ferlab.paths import cache_dir

OUT = Path(__file__).parent / "results"
SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
FRAMINGS = {
    "crop": {"detect": False},
    "detect+align": {"detect": True},
    "detect, square": {"detect": True, "align": False},
}
WATCHED = ("fear", "disgust", "sad", "angry")


def sfew_folder(zip_path: Path) -> Path:
    """SFEW Train unzipped once into the cache (never into the repository)."""
    root = cache_dir() / "sfew"
    if not (root / "sfew-train").is_dir():
        with zipfile.ZipFile(zip_path) as z:
            z.extractall(root)
    return root / "sfew-train"


def row(res: dict) -> dict:
    present = [c for c, n in res["support"].items() if n]
    return {
        "n": res["n"],
        "accuracy": res["accuracy"],
        "balanced_accuracy": float(np.mean([res["per_class"][c] for c in present])),
        "macro_f1": res["macro_f1"],
        "recall": {c: res["per_class"][c] for c in res["per_class"]},
        "no_face": res.get("no_face", 0),
        "prior": res.get("prior"),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--models", nargs="+", default=[DEFAULT_MODEL, "fer-vgg-wide"])
    ap.add_argument("--sfew", default=str(SHARED / "sfew" / "sfew-train.zip"))
    ap.add_argument("--ferplus", default=str(SHARED / "ferplus" / "ferplus-no-test.zip"))
    args = ap.parse_args()
    sfew = sfew_folder(Path(args.sfew))
    results: dict = {"machine": machine_info(), "sfew": {}, "ferplus_valid": {}}
    for model in args.models:
        for prior in PRIORS:
            opts = RecognizerOptions(prior=prior)
            for name, how in FRAMINGS.items():
                o = opts.replace(align=how.get("align", True))
                res = evaluate_ref(model, str(sfew), options=o, detect=how["detect"])
                results["sfew"][f"{model} | {name} | {prior}"] = row(res)
                print(model, name, prior, f"{row(res)['balanced_accuracy']:.4f}", flush=True)
            res = evaluate_ref(model, args.ferplus, "val", options=opts)
            results["ferplus_valid"][f"{model} | {prior}"] = row(res)
    md = [
        "### Real faces: SFEW 2.0 Train (used for choice, never trained on) and FER+ Valid, by prior and framing",
        "",
        f"`python benchmarks/real_faces.py` — {results['machine']['cpu']}; each model as it ships.",
        "",
        "| model | framing | prior | SFEW accuracy | balanced | macro F1 | " + " | ".join(WATCHED) + " | no face |",
        "|---|---|---|---:|---:|---:|" + "---:|" * len(WATCHED) + "---:|",
    ]
    for key, r in results["sfew"].items():
        model, framing, prior = key.split(" | ")
        md.append(
            f"| {model} | {framing} | {prior} | {r['accuracy']:.4f} | {r['balanced_accuracy']:.4f} | "
            f"{r['macro_f1']:.4f} | " + " | ".join(f"{r['recall'][c]:.2f}" for c in WATCHED) + f" | {r['no_face']} |"
        )
    md += [
        "",
        "| model | prior | FER+ Valid accuracy | balanced | " + " | ".join(WATCHED) + " |",
        "|---|---|---:|---:|" + "---:|" * len(WATCHED),
    ]
    for key, r in results["ferplus_valid"].items():
        model, prior = key.split(" | ")
        md.append(
            f"| {model} | {prior} | {r['accuracy']:.4f} | {r['balanced_accuracy']:.4f} | "
            + " | ".join(f"{r['recall'][c]:.2f}" for c in WATCHED)
            + " |"
        )
    write_results(OUT, "real_faces", results, md)


if __name__ == "__main__":
    main()
