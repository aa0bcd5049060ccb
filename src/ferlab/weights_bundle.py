"""Turn a trained checkpoint into a bundled model: evaluate it on val (with and without
test-time augmentation), choose how it ships (backend, int8, test-time augmentation), calibrate
it, time it on this CPU, and write NAME.safetensors + NAME.json (+ NAME.int8.onnx) whose card
holds those measurements and settings."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ferlab.card import WEIGHTS_FILE, read_card
from ferlab.checkpoint import load_model, save_checkpoint
from ferlab.data import load_fer2013
from ferlab.data.ferplus import evaluation_labels
from ferlab.evaluation import evaluate_model
from ferlab.io import atomic_write, atomic_write_json
from ferlab.measure import machine_info, median_ms
from ferlab.preprocess import to_model_input
from ferlab.tta import PASSES, TTA_MODES, tta_mode


def latency_ms(model: torch.nn.Module, card: dict, batch: int, repeats: int = 50) -> float:
    """Median milliseconds per face for one forward pass of `batch` faces on this CPU."""
    x = to_model_input(
        torch.randint(0, 256, (batch, 48, 48), dtype=torch.uint8), card["input"]["mean"], card["input"]["std"]
    ).contiguous(memory_format=torch.channels_last)
    return median_ms(model, x, repeats) / batch


def bundle(
    source: str,
    name: str,
    *,
    data: str,
    out_dir: Path,
    tta: str = "none",
    backend: str = "torch",
    int8: bool = False,
    calibrate: bool = True,
    labels: str | None = None,
    base: str | None = None,
) -> Path:
    """`tta`, `backend` and `int8`: how the Recognizer runs the model unless told otherwise
    (the card reports fp32 torch accuracy under every TTA mode whichever is chosen, and the
    accuracy, calibration and per-face cost of the shipped configuration itself).
    int8: static quantisation calibrated on 1,024 class-stratified training images (seed 0).
    calibrate: fit a temperature on one seeded stratified half of val, report ECE on the other.
    labels: the val labels the card reports and calibration fits (None: the source's own;
    ferplus-soft evaluates by the majority protocol); with FER+ labels the card also gives the
    accuracy on the original FER-2013 labels of the same source.
    base: a bundled model this one shares most weights with; only the tensors that differ are written."""

    model, card = load_model(source)
    labels = evaluation_labels(labels, card["classes"], source)
    fer = load_fer2013(data, labels=labels)
    val = fer.split("val")
    by_mode = {m: evaluate_model(model, card, val.images, val.labels, tta=m) for m in TTA_MODES}
    plain, mode = by_mode["none"], tta_mode(tta)
    card = {k: v for k, v in card.items() if not k.startswith("_")}
    card["name"] = name
    if base:
        card["base"] = base
    card["inference"] = {"backend": backend, "precision": "int8" if int8 else "fp32", "tta": mode}
    card["metrics"] = {
        # the TTA mode's one home is card["inference"]["tta"]
        **{k: v for k, v in card.get("metrics", {}).items() if k not in ("stability", "calibration")},
        "evaluated_on": f"{data} val (PublicTest), {fer.labels} labels, n={plain['n']}",
        "labels": fer.labels,
        "val_accuracy": plain["accuracy"],
        "val_accuracy_tta": by_mode["flip"]["accuracy"],
        "val_accuracy_by_tta": {m: r["accuracy"] for m, r in by_mode.items()},
        "tta_passes": PASSES[mode],
        "macro_f1": plain["macro_f1"],
        "per_class": plain["per_class"],
        "latency_ms_per_face_batch1": round(latency_ms(model, card, 1), 3),
        "latency_ms_per_face_batch64": round(latency_ms(model, card, 64), 3),
        "latency_machine": machine_info(),
    }
    if fer.labels != "original" and fer.stats.kind != "ferplus":
        orig = load_fer2013(data).split("val")
        card["metrics"]["val_accuracy_original_labels"] = evaluate_model(
            model, card, orig.images, orig.labels, tta="none"
        )["accuracy"]
    out = _write_bundle(model, card, out_dir, name)
    if int8:
        _quantize(model, card, fer, out_dir / f"{name}.int8.onnx")
        card["inference"]["onnx_int8"] = f"{name}.int8.onnx"
        out = _write_bundle(model, card, out_dir, name)
    card = {**card, **_measure_shipped(out, card, val, calibrate=calibrate)}
    return _write_bundle(model, card, out_dir, name)


def _quantize(model: torch.nn.Module, card: dict, fer, out: Path) -> None:
    """int8 static quantisation calibrated on 1,024 class-stratified training images (seed 0)."""
    import tempfile

    from ferlab.inference.quantize import quantize_int8
    from ferlab.runtime.onnx import export_onnx

    calib = np.asarray(fer.split("train").limited(1024, seed=0).images)
    with tempfile.TemporaryDirectory() as tmp:
        fp32 = export_onnx(model, card, Path(tmp) / "fp32.onnx")
        quantize_int8(fp32, out, calib, mean=card["input"]["mean"], std=card["input"]["std"])


def _measure_shipped(weights: Path, card: dict, val, *, calibrate: bool) -> dict:
    """The shipped configuration measured through the recognizer's own path: accuracy, the
    temperature fitted on one stratified half of val and the calibration on the other, and the
    cost per face on this CPU. Returns the card's new `inference` and `metrics`."""
    from ferlab.data.fer2013 import stratified_subset
    from ferlab.evaluation.calibration import fit_temperature, reliability, temper
    from ferlab.evaluation.evaluate import recognizer_probs
    from ferlab.evaluation.scores import scores
    from ferlab.inference.recognizer import Recognizer

    inference, metrics = dict(card["inference"]), dict(card["metrics"])
    rec = Recognizer(str(weights), calibrated=False)
    images, labels = np.asarray(val.images), np.asarray(val.labels)
    probs = recognizer_probs(rec, images)
    shipped = scores(probs, labels)
    if calibrate:
        fit_idx = stratified_subset(labels, len(labels) // 2, seed=0)
        held = np.setdiff1d(np.arange(len(labels)), fit_idx)
        t = fit_temperature(probs[fit_idx], labels[fit_idx])
        before, after = reliability(probs[held], labels[held]), reliability(temper(probs[held], t), labels[held])
        inference["temperature"] = round(t, 4)
        metrics["calibration"] = {
            "temperature": round(t, 4),
            "fitted_on": f"val (PublicTest): a class-stratified half, seed 0, n={len(fit_idx)}",
            "evaluated_on": f"val (PublicTest): the other half, n={len(held)}",
            "ece_before": before["ece"],
            "ece_after": after["ece"],
            "reliability_before": before["bins"],
            "reliability_after": after["bins"],
        }
    metrics |= {
        "val_accuracy_default": shipped["accuracy"],
        "macro_f1_default": shipped["macro_f1"],
        "per_class_default": shipped["per_class"],
        "shipped": {
            "backend": rec.backend,
            "precision": rec.precision,
            "tta": rec.tta,
            "views": PASSES[rec.tta],
            "ms_per_face_batch1": round(median_ms(rec.probabilities, images[:1], repeats=200, warmup=20), 3),
            "machine": machine_info(),
        },
    }
    return {"inference": inference, "metrics": metrics}


def requantize(name: str, *, data: str) -> Path:
    """Remake a bundled model's int8 copy with today's `quantize_int8` (same calibration images)
    and measure again how it ships; writes the .int8.onnx and the card record beside the weights,
    never the weights file."""
    from ferlab.errors import FerlabError

    model, card = load_model(name)
    onnx_name = card.get("inference", {}).get("onnx_int8")
    if not onnx_name:
        raise FerlabError(f"{name}: ships without an int8 copy; nothing to requantize")
    labels = card.get("metrics", {}).get("labels")
    fer = load_fer2013(data, labels=None if labels in (None, "original") else labels)
    _quantize(model, card, fer, Path(card["_path"]).parent / onnx_name)
    card |= _measure_shipped(Path(card["_path"]), card, fer.split("val"), calibrate="calibration" in card["metrics"])
    return write_card_record(card)


def _write_bundle(model: torch.nn.Module, card: dict, out_dir: Path, name: str) -> Path:
    tmp = out_dir / f".{name}.bundle"
    save_checkpoint(model, card, tmp)
    out_dir.mkdir(parents=True, exist_ok=True)
    atomic_write(out_dir / f"{name}.safetensors", lambda t: Path(t).write_bytes((tmp / WEIGHTS_FILE).read_bytes()))
    atomic_write(out_dir / f"{name}.json", lambda t: Path(t).write_bytes((tmp / "card.json").read_bytes()))
    for f in tmp.iterdir():
        f.unlink()
    tmp.rmdir()
    return out_dir / f"{name}.safetensors"


def write_card_record(card: dict) -> Path:
    """Write a model's card to the JSON beside its weights (atomically), leaving the weights file
    as it is: what `read_card` takes `metrics` and `inference` from."""
    from ferlab.card import card_record_path

    out = card_record_path(card["_path"])
    atomic_write_json(out, {k: v for k, v in card.items() if not k.startswith("_")})
    return out


def add_card_metrics(name: str, metrics: dict | None = None, *, inference: dict | None = None) -> Path:
    """Record further measurements (e.g. label stability) or inference facts (the training prior) in a
    model's card record; the weights file stays as it is."""
    card = read_card(name)
    card["metrics"] = {**card.get("metrics", {}), **(metrics or {})}
    if inference:
        card["inference"] = {**card.get("inference", {}), **inference}
    return write_card_record(card)
