"""`ferlab serve` under load over loopback: requests/s and p50/p99 latency at concurrency 1, 8
and 32, with micro-batching on and off. The server runs in its own process (as users run it);
the client is httpx's async client. Writes benchmarks/results/serve.json and .md.

Usage: python benchmarks/serve.py [--model NAME_OR_PATH] [--requests 240]
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx
import matplotlib

from ferlab.measure import machine_info, write_results

OUT = Path(__file__).parent / "results"
PHOTO = Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch(port: int, *options: str) -> subprocess.Popen:
    """`ferlab serve` in its own process on 127.0.0.1:port, returned once it answers /healthz."""
    cmd = [sys.executable, "-m", "ferlab.cli", "serve", "--port", str(port), *options]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("server did not start")


def start_server(port: int, model: str | None, micro_batch: bool) -> subprocess.Popen:
    options = ["--concurrency", "32", "--queue", "256"]
    if model:
        options += ["--model", model]
    if not micro_batch:
        options.append("--no-micro-batch")
    return launch(port, *options)


async def load(url: str, concurrency: int, total: int, data: bytes) -> dict:
    lat: list[float] = []
    codes: dict[int, int] = {}
    todo = iter(range(total))

    async def worker(client: httpx.AsyncClient) -> None:
        for _ in todo:
            t = time.perf_counter()
            r = await client.post(f"{url}/v1/predict", files={"file": ("face.jpg", data, "image/jpeg")})
            lat.append(time.perf_counter() - t)
            codes[r.status_code] = codes.get(r.status_code, 0) + 1

    async with httpx.AsyncClient(timeout=120) as client:
        for _ in range(3):  # warm-up
            await client.post(f"{url}/v1/predict", files={"file": ("face.jpg", data, "image/jpeg")})
        t0 = time.perf_counter()
        await asyncio.gather(*[worker(client) for _ in range(concurrency)])
        wall = time.perf_counter() - t0
    lat.sort()
    return {
        "requests": total,
        "rps": total / wall,
        "p50_ms": statistics.median(lat) * 1000,
        "p99_ms": lat[min(len(lat) - 1, int(0.99 * len(lat)))] * 1000,
        "status": codes,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default=None)
    ap.add_argument("--requests", type=int, default=240)
    ap.add_argument("--out", default=str(OUT))
    args = ap.parse_args()
    data = PHOTO.read_bytes()
    res: dict = {"image": f"{PHOTO.name} ({len(data):,} bytes, one face)", "machine": machine_info(), "runs": {}}
    for mb in (True, False):
        port = free_port()
        proc = start_server(port, args.model, mb)
        try:
            for c in (1, 8, 32):
                n = args.requests if c > 1 else max(30, args.requests // 4)
                r = asyncio.run(load(f"http://127.0.0.1:{port}", c, n, data))
                res["runs"][f"{'on' if mb else 'off'}/{c}"] = r
                print(
                    f"micro-batching {'on ' if mb else 'off'} concurrency {c:>2}: {r['rps']:.1f} req/s, "
                    f"p50 {r['p50_ms']:.0f} ms, p99 {r['p99_ms']:.0f} ms, {r['status']}",
                    flush=True,
                )
        finally:
            proc.terminate()
            proc.wait(10)
    m = res["machine"]
    md = [
        "# `ferlab serve` over loopback",
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores, CPU only; client and server on the same machine. "
        f"Image: {res['image']}; each request = decode + detection + alignment + classification, "
        "the default model as shipped.",
        "",
        "| micro-batching | concurrency | requests/s | p50 ms | p99 ms | statuses |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for key, r in res["runs"].items():
        mb, c = key.split("/")
        md.append(f"| {mb} | {c} | {r['rps']:.1f} | {r['p50_ms']:.0f} | {r['p99_ms']:.0f} | {r['status']} |")
    md += ["", "Reproduce: `python benchmarks/serve.py`", ""]
    write_results(args.out, "serve", res, md)


if __name__ == "__main__":
    main()
