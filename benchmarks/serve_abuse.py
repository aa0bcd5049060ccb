"""`ferlab serve` under abuse: the corpus of issue 12 replayed against a real server on 127.0.0.1,
started as users start it (`ferlab serve`, default settings). For each case: the answers, the
time, the server's peak RSS while it ran, and whether a well-behaved client (one photo after
another) kept being served meanwhile (its answers and p99). Then SIGTERM with requests in flight:
exit status and time. Every case is bounded in count and time.

Writes benchmarks/results/serve_abuse.json and .md.
Usage: python benchmarks/serve_abuse.py [--port N]
"""

from __future__ import annotations

import argparse
import io
import itertools
import select
import signal
import socket
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
from PIL import Image

from ferlab.measure import machine_info, write_results

OUT = Path(__file__).parent / "results"
GRACEFUL_S = 10.0
sys.path.insert(0, str(Path(__file__).parent))

from serve import PHOTO, free_port, launch  # noqa: E402  (the load benchmark's server start)


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


class Watch:
    """Samples the server's RSS, and keeps a well-behaved client sending one photo at a time."""

    def __init__(self, pid: int, url: str) -> None:
        self.pid, self.url = pid, url
        self.peak = 0.0
        self.normal: list[tuple[int, float]] = []
        self.stop = threading.Event()

    def __enter__(self):
        self.threads = [threading.Thread(target=f, daemon=True) for f in (self._rss, self._client)]
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(30)

    def _rss(self) -> None:
        while not self.stop.is_set():
            self.peak = max(self.peak, rss_mb(self.pid))
            time.sleep(0.01)

    def _client(self) -> None:
        data = PHOTO.read_bytes()
        with httpx.Client(timeout=60) as c:
            while not self.stop.is_set():
                t = time.perf_counter()
                try:
                    code = c.post(f"{self.url}/v1/predict", files={"file": ("n.jpg", data, "image/jpeg")}).status_code
                except httpx.HTTPError:
                    code = 0
                self.normal.append((code, time.perf_counter() - t))
                time.sleep(0.05)


def post(url: str, data: bytes, ctype: str = "image/jpeg", name: str = "x") -> tuple[int, str]:
    try:
        r = httpx.post(f"{url}/v1/predict", files={"file": (name, data, ctype)}, timeout=60)
        return r.status_code, r.text[:160]
    except httpx.HTTPError as e:
        return 0, type(e).__name__


def raw(port: int, head: bytes, chunks=(), limit: int = 0) -> tuple[int, int]:
    """(status, body bytes sent before the answer came) for a hand-made request."""
    sent = 0
    with socket.create_connection(("127.0.0.1", port), timeout=60) as s:
        s.sendall(head)
        for chunk in chunks:
            if select.select([s], [], [], 0)[0]:
                break
            try:
                s.sendall(chunk)
            except OSError:
                break
            sent += len(chunk)
            if limit and sent >= limit:
                break
        try:
            answer = s.recv(4096)
        except OSError:
            answer = b""
    status = int(answer.split(b" ", 2)[1]) if answer.startswith(b"HTTP/") else 0
    return status, sent


def png(im: Image.Image) -> bytes:
    buf = io.BytesIO()
    im.save(buf, format="PNG", optimize=True)
    return buf.getvalue()


def jpeg(a: np.ndarray, quality: int = 90) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(a).save(buf, format="JPEG", quality=quality)
    return buf.getvalue()


def many_face_photo() -> bytes:
    """Grace Hopper 12×12 = 144 times (faces ~85 px) at 3072×3600: a 4–5 MB JPEG."""
    hopper = np.asarray(Image.open(PHOTO).convert("RGB").resize((256, 300)))
    return jpeg(np.tile(hopper, (12, 12, 1)), 95)


def cases(url: str, port: int) -> list[tuple[str, object]]:
    part = b'--xx\r\nContent-Disposition: form-data; name="file"; filename="x.jpg"\r\nContent-Type: image/jpeg\r\n\r\n'
    zeros = b"\0" * 65536

    def head(framing: str) -> bytes:
        """A multipart POST's head; framing: the Content-Length or Transfer-Encoding line."""
        start = "POST /v1/predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: multipart/form-data; boundary=xx"
        return f"{start}\r\n{framing}\r\n\r\n".encode()

    def declared_300mb():
        status, sent = raw(
            port, head("Content-Length: 314572800") + part, itertools.repeat(zeros, 4800), limit=300 << 20
        )
        return [status], f"{sent / 2**20:.1f} MB sent before the answer"

    def chunked_300mb():
        first = f"{len(part):x}\r\n".encode() + part + b"\r\n"
        chunk = f"{len(zeros):x}\r\n".encode() + zeros + b"\r\n"
        status, sent = raw(
            port, head("Transfer-Encoding: chunked") + first, itertools.repeat(chunk, 4800), limit=300 << 20
        )
        return [status], f"{sent / 2**20:.1f} MB sent before the answer"

    def palette_64mp():
        return [post(url, png(Image.new("P", (8000, 8000))), "image/png")[0]], "7.8 KB PNG, 8000×8000"

    def palette_23mp_x4():
        data = png(Image.new("P", (4800, 4800)))
        with ThreadPoolExecutor(4) as ex:
            codes = list(ex.map(lambda _: post(url, data, "image/png")[0], range(4)))
        return codes, f"{len(data) / 1024:.0f} KB PNG, 4800×4800, 4 at once"

    def jpeg_108mp():
        data = jpeg(np.full((9000, 12000, 3), 128, np.uint8), 50)
        return [post(url, data)[0]], f"{len(data) / 2**20:.1f} MB JPEG, 12000×9000"

    def strip_1x60000():
        return [post(url, png(Image.new("L", (60000, 1), 255)), "image/png")[0]], "1×60000 PNG"

    def many_faces_x4():
        data = many_face_photo()
        with ThreadPoolExecutor(4) as ex:
            out = list(ex.map(lambda _: post(url, data), range(4)))
        r = httpx.post(f"{url}/v1/predict", files={"file": ("m.jpg", data, "image/jpeg")}, timeout=60)
        body = r.json() if r.status_code == 200 else {}
        info = f"{len(data) / 2**20:.1f} MB JPEG, 144 faces, 4 at once + 1; answered {len(body.get('faces', []))}"
        info += f" faces, {body.get('faces_dropped', '?')} dropped"
        return [c for c, _ in out] + [r.status_code], info

    def wrong_formats():
        eps = b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\nshowpage\n"
        svg = b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>'
        heic = b"\0\0\0\x18ftypheic\0\0\0\0mif1heic" + b"\0" * 64
        return [post(url, d, "image/jpeg")[0] for d in (eps, svg, heic)], "EPS, SVG, HEIC declared image/jpeg"

    def slow_client():
        data = PHOTO.read_bytes()
        body = part + data + b"\r\n--xx--\r\n"
        start = head(f"Content-Length: {len(body)}")
        with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
            s.sendall(start)
            for i in range(0, 8 * 1024, 1024):  # 1 KB per 0.5 s, then gone
                s.sendall(body[i : i + 1024])
                time.sleep(0.5)
        return [0], "8 KB of a 60 KB body at 2 KB/s, then disconnected"

    def stalled_client():
        # then silence: the server must give up on its own
        status, _ = raw(port, head("Content-Length: 60000") + part[:60])
        return [status], "60 bytes of a 60 KB body, then silence (the default --body-timeout is 30 s)"

    def disconnects():
        data = PHOTO.read_bytes()
        body = part + data + b"\r\n--xx--\r\n"
        start = head(f"Content-Length: {len(body)}")
        for _ in range(20):
            with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
                s.sendall(start + body)  # whole request, then gone before the answer
        return [0] * 20, "20 whole requests, closed before the answer"

    def flood_64():
        data = PHOTO.read_bytes()
        with ThreadPoolExecutor(64) as ex:
            codes = list(ex.map(lambda _: post(url, data)[0], range(64)))
        return codes, "64 clients at once, one photo each"

    def foreign_host():
        r = httpx.get(f"{url}/v1/models", headers={"host": "rebind.example"})
        return [r.status_code], "Host: rebind.example"

    return [
        ("300 MB body, length declared", declared_300mb),
        ("300 MB body, chunked", chunked_300mb),
        ("8000×8000 palette PNG (64 MP)", palette_64mp),
        ("4800×4800 palette PNG (23 MP) ×4", palette_23mp_x4),
        ("12000×9000 JPEG (108 MP)", jpeg_108mp),
        ("1×60000 PNG", strip_1x60000),
        ("144-face photo ×5", many_faces_x4),
        ("EPS / SVG / HEIC as image/jpeg", wrong_formats),
        ("slow client", slow_client),
        ("stalled client", stalled_client),
        ("disconnects", disconnects),
        ("64 concurrent clients", flood_64),
        ("foreign Host header", foreign_host),
    ]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--out", default=str(OUT))
    args = ap.parse_args()
    port = args.port or free_port()
    url = f"http://127.0.0.1:{port}"
    proc = launch(port, "--graceful-timeout", str(GRACEFUL_S))
    httpx.post(f"{url}/v1/predict", files={"file": ("w.jpg", PHOTO.read_bytes(), "image/jpeg")}, timeout=60)
    rows = []
    try:
        idle_rss = rss_mb(proc.pid)
        for name, fn in cases(url, port):
            with Watch(proc.pid, url) as w:
                time.sleep(0.3)
                t = time.perf_counter()
                codes, info = fn()
                took = time.perf_counter() - t
                time.sleep(0.3)
            lat = sorted(s for c, s in w.normal if c == 200)
            row = {
                "case": name,
                "detail": info,
                "statuses": {str(c): codes.count(c) for c in sorted(set(codes))},
                "seconds": round(took, 2),
                "peak_rss_mb": round(w.peak, 1),
                "others_served": sum(1 for c, _ in w.normal if c == 200),
                "others_refused": sum(1 for c, _ in w.normal if c != 200),
                "others_p99_s": round(lat[min(len(lat) - 1, int(0.99 * len(lat)))], 3) if lat else None,
            }
            rows.append(row)
            print(row, flush=True)
        # SIGTERM with requests in flight
        data = many_face_photo()
        with ThreadPoolExecutor(8) as ex:
            futs = [ex.submit(post, url, data) for _ in range(8)]
            time.sleep(0.3)
            t = time.perf_counter()
            proc.send_signal(signal.SIGTERM)
            code = proc.wait(timeout=GRACEFUL_S + 30)
            stop_s = time.perf_counter() - t
            in_flight = [f.result()[0] for f in futs]
        sigterm = {"exit_status": code, "seconds": round(stop_s, 2), "in_flight_answers": in_flight}
        print(sigterm, flush=True)
    finally:
        if proc.poll() is None:
            proc.kill()
    all_codes = [int(c) for r in rows for c, n in r["statuses"].items() for _ in range(n)]
    others = [r for r in rows if r["others_p99_s"] is not None]
    res = {
        "server": "ferlab serve (defaults: 10 MB uploads, 24 MP, 32 faces, deadline 15 s, 4 at once, 2 decodes)",
        "idle_rss_mb": round(idle_rss, 1),
        "cases": rows,
        "sigterm": sigterm,
        "unexpected_5xx": sum(1 for c in all_codes if c >= 500 and c not in (503, 504)),
        "peak_rss_mb": max(r["peak_rss_mb"] for r in rows),
        "others_p99_max_s": max(r["others_p99_s"] for r in others) if others else None,
        "machine": machine_info(),
    }
    m = res["machine"]
    md = [
        "## `ferlab serve` under abuse (issue 12's corpus, default settings)",
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores, CPU only. A real server (`ferlab serve`, its own process) on "
        "127.0.0.1; while each case runs, a well-behaved client sends one photo after another. Status 0: no answer "
        f"expected (the client left). Server RSS idle {res['idle_rss_mb']} MB.",
        "",
        "| case | detail | answers | s | peak RSS MB | others served | others refused | others p99 s |",
        "|---|---|---|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        answers = ", ".join(f"{c}×{n}" for c, n in r["statuses"].items())
        p99 = "—" if r["others_p99_s"] is None else f"{r['others_p99_s']:.2f}"
        md.append(
            f"| {r['case']} | {r['detail']} | {answers} | {r['seconds']:.2f} | {r['peak_rss_mb']:.0f} | "
            f"{r['others_served']} | {r['others_refused']} | {p99} |"
        )
    md += [
        "",
        f"Unexpected 5xx (500/502): {res['unexpected_5xx']}. Peak RSS through the corpus: {res['peak_rss_mb']:.0f} MB. "
        f"SIGTERM with 8 many-face requests in flight: exit status {sigterm['exit_status']} after "
        f"{sigterm['seconds']:.2f} s (graceful timeout {GRACEFUL_S:g} s); answers in flight: "
        f"{', '.join(str(c) for c in sigterm['in_flight_answers'])}.",
        "",
        "Reproduce: `python benchmarks/serve_abuse.py`",
        "",
    ]
    write_results(args.out, "serve_abuse", res, md)


if __name__ == "__main__":
    main()
