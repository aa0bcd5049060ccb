"""int8 with and without 7-bit weights against fp32, one pass on PublicTest, on this CPU: why
ferlab.inference.quantize uses reduce_range (onnxruntime's u8s8 kernels saturate on AVX2-only CPUs).

    python scripts/int8_reduce_range.py [--model fer-vgg-wide] [--data ZIP]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path
from unittest import mock

import numpy as np

from ferlab.checkpoint import load_model
from ferlab.data import load_fer2013
from ferlab.inference.quantize import quantize_int8
from ferlab.measure import cpu_model
from ferlab.paths import default_data
from ferlab.preprocess import to_model_input_np
from ferlab.runtime.onnx import OnnxSession, export_onnx


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="fer-vgg-wide")
    ap.add_argument("--data", default=default_data())
    args = ap.parse_args()
    model, card = load_model(args.model)
    fer = load_fer2013(args.data)
    val, calib = fer.split("val"), fer.split("train").limited(1024, seed=0).images.numpy()
    x = to_model_input_np(np.asarray(val.images), card["input"]["mean"], card["input"]["std"])
    y = np.asarray(val.labels)

    def acc(path) -> float:
        s = OnnxSession(path)
        p = np.concatenate([s.probs(x[i : i + 256]) for i in range(0, len(x), 256)])
        return float((p.argmax(1) == y).mean())

    import onnxruntime.quantization as q

    with tempfile.TemporaryDirectory() as t:
        fp32 = export_onnx(model, card, Path(t) / "fp32.onnx")
        rows = {"fp32": acc(fp32)}
        quantize_int8(fp32, Path(t) / "rr.onnx", calib, mean=card["input"]["mean"], std=card["input"]["std"])
        rows["int8, 7-bit weights (shipped recipe)"] = acc(Path(t) / "rr.onnx")
        full = q.quantize_static

        def eight_bit(*a, **k):
            return full(*a, **{**k, "reduce_range": False})

        with mock.patch.object(q, "quantize_static", eight_bit):
            quantize_int8(fp32, Path(t) / "u8.onnx", calib, mean=card["input"]["mean"], std=card["input"]["std"])
        rows["int8, 8-bit weights"] = acc(Path(t) / "u8.onnx")
    print(f"{args.model}, PublicTest one pass (n={len(y)}), {cpu_model()}:")
    for k, v in rows.items():
        print(f"  {k}: {v:.4f}")


if __name__ == "__main__":
    main()
