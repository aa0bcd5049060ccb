"""int8 copies for onnxruntime (ferlab.inference.quantize) on the tiny checkpoint."""

from __future__ import annotations

import json

import numpy as np
import onnx
from conftest import face

from ferlab.checkpoint import load_model
from ferlab.inference.quantize import quantize_int8
from ferlab.runtime.onnx import OnnxSession, export_onnx


def test_quantize_int8_writes_a_quantised_model_that_keeps_the_card_and_the_answers(ckpt, tmp_path):
    model, card = load_model(ckpt)
    fp32 = export_onnx(model, card, tmp_path / "m.onnx")
    faces = np.stack([face(i % 7, i) for i in range(128)])
    out = quantize_int8(fp32, tmp_path / "m.int8.onnx", faces, mean=card["input"]["mean"], std=card["input"]["std"])
    proto = onnx.load(str(out))
    ops = {n.op_type for n in proto.graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops  # QDQ: int8 weights, uint8 activations
    meta = {p.key: p.value for p in proto.metadata_props}
    assert json.loads(meta["ferlab_card"])["name"] == "test-model"  # the card travels with it
    x = (faces[:32].astype(np.float32)[:, None] / 255 - card["input"]["mean"]) / card["input"]["std"]
    p32, p8 = OnnxSession(fp32).probs(x), OnnxSession(out).probs(x)
    assert p8.shape == (32, 7) and np.allclose(p8.sum(1), 1, atol=1e-4)
    assert np.abs(p8 - p32).max() < 0.1 and (p8.argmax(1) == p32.argmax(1)).mean() >= 0.9
    assert not list(tmp_path.glob("*.pre.onnx"))  # the pre-processed temporary is gone
