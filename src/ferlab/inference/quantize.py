"""int8 models for onnxruntime: static quantisation (QDQ, per-channel int8 weights, uint8
activations) calibrated on training images, the standard recipe for CNNs on CPUs with integer
dot-product instructions (AVX-512 VNNI, AVX-VNNI, ARM dot product), with 7-bit weights so that it
loses nothing on CPUs without them either. onnxruntime's own
quantisation tool does the work; this module only feeds it faces the model was trained on.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ferlab.io import atomic_write
from ferlab.preprocess import to_model_input_np


def quantize_int8(
    fp32: str | os.PathLike, out: str | os.PathLike, calibration: np.ndarray, *, mean: float, std: float
) -> Path:
    """Write an int8 copy of the fp32 ONNX model `fp32`, calibrated on uint8 (N,48,48) faces."""
    import onnx
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    class Faces(CalibrationDataReader):
        def __init__(self) -> None:
            self.batches = iter(np.array_split(calibration, max(1, len(calibration) // 64)))

        def get_next(self):
            b = next(self.batches, None)
            return None if b is None else {"input": to_model_input_np(b, mean, std)}

    def write(tmp: str) -> None:
        pre = tmp + ".pre.onnx"
        try:
            quant_pre_process(str(fp32), pre, skip_symbolic_shape=True)
            quantize_static(
                pre,
                tmp,
                Faces(),
                quant_format=QuantFormat.QDQ,
                per_channel=True,
                # 7-bit weights: on x86 CPUs without VNNI (AVX2 only) onnxruntime's u8s8 kernels
                # saturate their 16-bit intermediate sums with full 8-bit weights. Measured on an
                # AVX2-only AMD EPYC, fer-vgg-wide one pass on PublicTest: fp32 0.7008, int8 0.6773,
                # int8 with reduce_range 0.7010 (scripts/int8_reduce_range.py; onnxruntime's docs say the same).
                reduce_range=True,
                weight_type=QuantType.QInt8,
                activation_type=QuantType.QUInt8,
            )
        finally:
            if os.path.exists(pre):
                os.unlink(pre)
        # carry the card and class names over from the fp32 export
        src, proto = onnx.load(str(fp32)), onnx.load(tmp)
        del proto.metadata_props[:]
        proto.metadata_props.extend(src.metadata_props)
        onnx.save(proto, tmp)

    atomic_write(out, write)
    return Path(out)
