"""Turn a trained checkpoint into a bundled model: evaluate it on val (with and without
test-time augmentation), time it on this CPU, and write NAME.safetensors + NAME.json whose card
holds those measurements."""

from __future__ import annotations

import statistics
import time
from pathlib import Path

import torch

from ferlab.checkpoint import BUNDLED_DIR, WEIGHTS_FILE, load_model, save_checkpoint
from ferlab.data import load_fer2013
from ferlab.evaluation import evaluate_model
from ferlab.io import atomic_write
from ferlab.preprocess import to_model_input
from ferlab.training.machine import machine_info
from ferlab.tta import PASSES, TTA_MODES, tta_mode


@torch.inference_mode()
def median_ms(fn, x: torch.Tensor, repeats: int = 50, warmup: int = 5) -> float:
    """Median milliseconds of fn(x) on this machine, after a warm-up."""
    for _ in range(warmup):
        fn(x)
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn(x)
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1000


def latency_ms(model: torch.nn.Module, card: dict, batch: int, repeats: int = 50) -> float:
    """Median milliseconds per face for one forward pass of `batch` faces on this CPU."""
    x = to_model_input(
        torch.randint(0, 256, (batch, 48, 48), dtype=torch.uint8), card["input"]["mean"], card["input"]["std"]
    ).contiguous(memory_format=torch.channels_last)
    return median_ms(model, x, repeats) / batch


def bundle(source: str, name: str, *, data: str, out_dir: Path, tta_default: str = "none") -> Path:
    """`tta_default`: the test-time augmentation (ferlab.tta) the Recognizer applies unless told
    otherwise; the card reports the accuracy under every mode whichever is chosen."""
    model, card = load_model(source)
    val = load_fer2013(data).split("val")
    by_mode = {m: evaluate_model(model, card, val.images, val.labels, tta=m) for m in TTA_MODES}
    plain, default = by_mode["none"], by_mode[tta_mode(tta_default)]
    card = {k: v for k, v in card.items() if not k.startswith("_")}
    card["name"] = name
    card["metrics"] = {
        **card.get("metrics", {}),
        "evaluated_on": f"{data} val (PublicTest), n={plain['n']}",
        "val_accuracy": plain["accuracy"],
        "val_accuracy_tta": by_mode["flip"]["accuracy"],
        "val_accuracy_by_tta": {m: r["accuracy"] for m, r in by_mode.items()},
        "tta_default": tta_mode(tta_default),
        "tta_passes": PASSES[tta_mode(tta_default)],
        "val_accuracy_default": default["accuracy"],
        "macro_f1_default": default["macro_f1"],
        "per_class_default": default["per_class"],
        "macro_f1": plain["macro_f1"],
        "per_class": plain["per_class"],
        "latency_ms_per_face_batch1": round(latency_ms(model, card, 1), 3),
        "latency_ms_per_face_batch64": round(latency_ms(model, card, 64), 3),
        "latency_machine": machine_info(),
    }
    return _write_bundle(model, card, out_dir, name)


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


def add_card_metrics(name: str, metrics: dict, out_dir: Path = BUNDLED_DIR) -> Path:
    """Record further measurements (e.g. label stability) in a bundled model's card; same weights."""
    model, card = load_model(name)
    card = {k: v for k, v in card.items() if not k.startswith("_")}
    card["metrics"] = {**card.get("metrics", {}), **metrics}
    return _write_bundle(model, card, out_dir, name)
