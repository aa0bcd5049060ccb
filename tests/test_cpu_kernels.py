"""Int8 networks on CPUs with and without integer dot products (ferlab.runtime.cpu)."""

from __future__ import annotations

import numpy as np
from conftest import PHOTO

from ferlab.inference.recognizer import Recognizer
from ferlab.runtime import cpu


def test_the_choice_follows_the_cpu_flags_and_the_environment(monkeypatch):
    monkeypatch.delenv("FERLAB_INT8_KERNELS", raising=False)
    monkeypatch.setattr(cpu.platform, "system", lambda: "Linux")
    monkeypatch.setattr(cpu, "cpu_flags", lambda: frozenset({"avx2", "fma"}))  # an AVX2-only EPYC
    assert cpu.int8_kernels() is False
    monkeypatch.setattr(cpu, "cpu_flags", lambda: frozenset({"avx2", "avx512_vnni"}))
    assert cpu.int8_kernels() is True
    monkeypatch.setenv("FERLAB_INT8_KERNELS", "0")
    assert cpu.int8_kernels() is False


def test_without_vnni_the_same_int8_file_runs_on_fp32_kernels_and_keeps_its_labels(monkeypatch):
    monkeypatch.setenv("FERLAB_INT8_KERNELS", "1")
    fast = Recognizer()
    monkeypatch.setenv("FERLAB_INT8_KERNELS", "0")
    plain = Recognizer()
    assert plain.runs_on == "onnxruntime int8 (fp32 kernels: no VNNI) on CPU" and "fp32 kernels" not in fast.runs_on
    crops = plain.preprocess(PHOTO).crops
    a, b = fast.probabilities(crops), plain.probabilities(crops)
    assert a.argmax(1).tolist() == b.argmax(1).tolist() and np.abs(a - b).max() < 0.02


def test_info_says_which_kernels_run_here(monkeypatch, capsys):
    from ferlab.cli import main

    for flag, said in (("1", "int8 kernels (it has integer"), ("0", "fp32 kernels on the int8 weights")):
        monkeypatch.setenv("FERLAB_INT8_KERNELS", flag)
        assert main(["info"]) == 0
        assert f"  on this CPU: {said}" in capsys.readouterr().out
