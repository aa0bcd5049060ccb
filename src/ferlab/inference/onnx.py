"""ONNX export (the card travels as model metadata) and an onnxruntime session.

The exported graph takes the normalised (N,1,48,48) float input, exactly what the torch model
takes, so both backends share `to_model_input` and give the same probabilities.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import warnings
from pathlib import Path

import numpy as np
import torch

from ferlab.errors import FerlabError
from ferlab.io import atomic_write


def export_onnx(model: torch.nn.Module, card: dict, out: str | os.PathLike, opset: int = 17) -> Path:
    import onnx

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


def _session(path: str):
    try:
        import onnxruntime as ort
    except ImportError:
        raise FerlabError("backend 'onnxruntime' needs the onnxruntime package: pip install 'ferlab[onnx]'") from None
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    return ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])


class OnnxSession:
    def __init__(self, path: str | os.PathLike) -> None:
        self.path = str(path)
        self.session = _session(self.path)
        meta = self.session.get_modelmeta().custom_metadata_map
        self.card = json.loads(meta["ferlab_card"]) if "ferlab_card" in meta else None

    @classmethod
    def for_model(cls, model: torch.nn.Module, card: dict) -> OnnxSession:
        """Export to a cache file keyed by the checkpoint, and open it."""
        from ferlab.data.fer2013 import cache_dir

        src = Path(card["_path"])
        st = src.stat()
        digest = hashlib.sha256(f"{src.resolve()}|{st.st_size}|{st.st_mtime_ns}".encode()).hexdigest()[:12]
        key = f"{src.stem}-{digest}.onnx"
        out = cache_dir() / "onnx" / key
        if not out.exists():
            try:
                export_onnx(model, card, out)
            except OSError:  # unwritable cache: export to a temp dir instead
                out = Path(tempfile.mkdtemp()) / key
                export_onnx(model, card, out)
        return cls(out)

    def logits(self, x: np.ndarray) -> np.ndarray:
        return self.session.run(None, {"input": np.ascontiguousarray(x, dtype=np.float32)})[0]

    def probs(self, x: np.ndarray) -> np.ndarray:
        z = self.logits(x)
        z = z - z.max(1, keepdims=True)
        e = np.exp(z)
        return e / e.sum(1, keepdims=True)
