"""What this CPU offers the int8 networks: integer dot-product instructions (x86 AVX-512 VNNI or
AVX-VNNI, AMX; ARM's dot product), without which onnxruntime's int8 kernels are no faster than
fp32 — measured 2.3 ms per face with them (Intel Xeon) and 26 ms without (AVX2-only AMD EPYC).

`int8_kernels()` says whether to run a shipped int8 model on int8 kernels. Where it says no, the
same file runs with its quantise/dequantise pairs left unfused (onnxruntime's
`session.disable_quant_qdq`): weights are dequantised once when the session starts and the
convolutions run in fp32, on the same int8-rounded weights and activations, so the labels stay
those of the int8 model (benchmarks/cpu_kernels.py measures both ways on one machine).
$FERLAB_INT8_KERNELS=1/0 overrides the choice (benchmarks, tests)."""

from __future__ import annotations

import functools
import os
import platform

# /proc/cpuinfo flags that give onnxruntime fast int8 dot products
DOT_FLAGS = {"avx512_vnni", "avx_vnni", "amx_int8", "asimddp"}


@functools.cache
def cpu_flags() -> frozenset[str]:
    """The CPU's feature flags (Linux /proc/cpuinfo: x86 `flags`, ARM `Features`); empty elsewhere."""
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                key, _, value = line.partition(":")
                if key.strip() in ("flags", "Features"):
                    return frozenset(value.split())
    except OSError:
        pass
    return frozenset()


def int8_kernels() -> bool:
    """Whether int8 networks should run on int8 kernels here."""
    forced = os.environ.get("FERLAB_INT8_KERNELS")
    if forced in ("0", "1"):
        return forced == "1"
    if platform.system() == "Darwin" and platform.machine() == "arm64":
        return True  # Apple silicon has the ARM dot product; no /proc/cpuinfo to say so
    return bool(cpu_flags() & DOT_FLAGS)
