"""ONNX export of a torch model (the card travels as model metadata) and an onnxruntime session.

The exported graph takes the normalised (N,1,48,48) float input, exactly what the torch model
takes, so both backends share the preprocessing and give the same probabilities. Running an
exported model needs no torch: a checkpoint's export is cached under the user cache dir, keyed
by the checkpoint file, and only the first use (the export) imports torch.
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ferlab.errors import FerlabError
from ferlab.io import atomic_write
from ferlab.paths import cache_dir

if TYPE_CHECKING:
    import torch


def export_onnx(model: torch.nn.Module, card: dict, out: str | os.PathLike, opset: int = 17) -> Path:
    import onnx
    import torch

    model = model.eval().to("cpu")
    x = torch.zeros(1, 1, 48, 48)
    clean_card = {k: v for k, v in card.items() if not k.startswith("_")}

    def write(tmp: str) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notice
            # TorchScript-based exporter: needs only the `onnx` package, no onnxscript.
            torch.onnx.export(
                model,
                (x,),
                tmp,
                input_names=["input"],
                output_names=["logits"],
                dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
                opset_version=opset,
                dynamo=False,
            )
        proto = onnx.load(tmp)
        for key, value in (("ferlab_card", json.dumps(clean_card)), ("classes", ",".join(card["classes"]))):
            entry = proto.metadata_props.add()
            entry.key, entry.value = key, value
        onnx.save(proto, tmp)

    atomic_write(out, write)
    return Path(out)


def providers_for(device: str = "cpu") -> list[str]:
    """onnxruntime execution providers for a device: "cpu", "cuda" (refused where this
    onnxruntime has no CUDA provider), or "auto" (CUDA where installed, else CPU)."""
    import onnxruntime as ort

    has_cuda = "CUDAExecutionProvider" in ort.get_available_providers()
    if device == "cuda" and not has_cuda:
        raise FerlabError(
            "--device cuda: this onnxruntime has no CUDA provider (pip install onnxruntime-gpu, with a CUDA driver)"
        )
    if device in ("cuda", "auto") and has_cuda:
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]
    return ["CPUExecutionProvider"]


def ort_session(path: str | os.PathLike, threads: int | None = None, device: str = "cpu", fuse_int8: bool = True):
    """An onnxruntime session (CPU, or CUDA where asked for and installed), quiet, with a clear
    error where onnxruntime is missing. fuse_int8=False runs an int8 (QDQ) model on fp32 kernels
    (ferlab.runtime.cpu: for CPUs without integer dot-product instructions)."""
    try:
        import onnxruntime as ort
    except ImportError:
        raise FerlabError("backend 'onnxruntime' needs the onnxruntime package: pip install onnxruntime") from None
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    # No busy-waiting between runs: the detector's and the classifier's sessions take turns on the
    # same cores, and a pool left spinning after one run slows the other's next run
    # (benchmarks/pipeline.py, one-face photos: 31.7 ms per photo with spinning, 19.6 without).
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    if threads:
        opts.intra_op_num_threads = threads
    if not fuse_int8:
        opts.add_session_config_entry("session.disable_quant_qdq", "1")
    return ort.InferenceSession(str(path), opts, providers=providers_for(device))


def export_cache_path(card: dict) -> Path:
    """Where the export of the checkpoint behind `card` lives: keyed by its path, size and mtime."""
    src = Path(card["_path"])
    st = src.stat()
    digest = hashlib.sha256(f"{src.resolve()}|{st.st_size}|{st.st_mtime_ns}".encode()).hexdigest()[:12]
    return cache_dir() / "onnx" / f"{src.stem}-{digest}.onnx"


class OnnxSession:
    def __init__(
        self, path: str | os.PathLike, threads: int | None = None, device: str = "cpu", fuse_int8: bool = True
    ) -> None:
        self.path = str(path)
        self.fuse_int8 = fuse_int8
        self.session = ort_session(self.path, threads=threads, device=device, fuse_int8=fuse_int8)

    def logits(self, x: np.ndarray) -> np.ndarray:
        return self.session.run(None, {"input": np.ascontiguousarray(x, dtype=np.float32)})[0]

    def probs(self, x: np.ndarray) -> np.ndarray:
        z = self.logits(x)
        z = z - z.max(1, keepdims=True)
        e = np.exp(z)
        return e / e.sum(1, keepdims=True)
