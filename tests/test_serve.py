"""`ferlab serve`: the API in-process and over loopback, abuse, micro-batching, and a real browser."""

from __future__ import annotations

import asyncio
import base64
import io
import itertools
import shutil
import socket
import threading
import time
from pathlib import Path

import httpx
import numpy as np
import pytest
import torch
import uvicorn
from conftest import PHOTO
from fastapi.testclient import TestClient
from PIL import Image

from ferlab.card import make_card
from ferlab.checkpoint import save_checkpoint
from ferlab.labels import CLASSES
from ferlab.models import build, count_parameters
from ferlab.serve.app import create_app
from ferlab.serve.limits import ServeLimits

LOCAL = "http://localhost"  # the server answers its local host names only, by default


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    m = build("cnn-v2.1").eval()
    d = tmp_path_factory.mktemp("ck") / "model"
    save_checkpoint(m, make_card("cnn-v2.1", {}, mean=0.5, std=0.25, params=count_parameters(m), name="m1"), d)
    return d


@pytest.fixture(scope="module")
def client(ckpt):
    with TestClient(create_app([str(ckpt)]), base_url=LOCAL) as c:
        yield c


def upload(client, data: bytes | None = None, ctype: str = "image/jpeg", **form):
    data = PHOTO.read_bytes() if data is None else data
    return client.post("/v1/predict", files={"file": ("x.jpg", data, ctype)}, data=form)


def test_predict_schema(client):
    r = upload(client)
    assert r.status_code == 200
    body = r.json()
    assert body["model"] == "m1" and body["ms"] > 0
    (face,) = body["faces"]
    assert set(face) == {"box", "score", "label", "confidence", "probs", "landmarks"} and len(face["box"]) == 4
    assert body["tta"] == "none" and body["detector"] == "centerface"  # how the numbers were made
    assert set(face["probs"]) == set(CLASSES) and face["label"] in CLASSES


def test_min_confidence_labels_doubtful_faces_uncertain(client):
    (face,) = upload(client).json()["faces"]
    (doubtful,) = upload(client, min_confidence=str(min(1.0, face["confidence"] + 0.01))).json()["faces"]
    assert doubtful["label"] == "uncertain" and doubtful["probs"] == face["probs"]
    assert upload(client, min_confidence="2").status_code == 422  # outside [0, 1]
    upload_tall = Image.new("RGB", (4000, 2), "white")
    buf = io.BytesIO()
    upload_tall.save(buf, format="PNG")
    r = upload(client, buf.getvalue(), "image/png")
    assert r.status_code == 422 and "too small or too elongated" in r.json()["error"]


def test_explain_adds_heatmap_png(client):
    r = upload(client, explain="true")
    png = base64.b64decode(r.json()["faces"][0]["heatmap_png"])
    assert Image.open(io.BytesIO(png)).size == (192, 192)  # large enough to see where it looked


def test_models_health_docs(client):
    assert client.get("/healthz").json()["status"] == "ok"
    models = client.get("/v1/models").json()
    assert models["default"] == "m1" and models["models"][0]["card"]["classes"] == list(CLASSES)
    assert "/v1/predict" in client.get("/openapi.json").json()["paths"]
    # Swagger UI would load its scripts from a CDN: not served (blank offline, a third party)
    assert client.get("/docs").status_code == 404
    page = client.get("/")
    assert page.status_code == 200 and "<canvas" in page.text
    assert "http" not in page.text.replace("http-equiv", "")  # no external CDN
    assert client.get("/static/app.js").status_code == 200
    icon = client.get("/favicon.ico")  # asked for on every page load: not a 404
    assert icon.status_code == 200 and icon.headers["content-type"] == "image/svg+xml" and b"<svg" in icon.content


@pytest.mark.parametrize(
    "data, ctype, status, message",
    [
        (b"hello", "text/plain", 415, "not one of the accepted image formats"),
        (PHOTO.read_bytes()[:3000], "image/jpeg", 422, "truncated or corrupt image"),
        (b"", "image/png", 422, "empty file"),
        (b"GIF89a not really", "image/gif", 422, "not an image file"),
        # another decoder's input declared as an image: refused before any decoder sees it
        (b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\n", "image/jpeg", 415, "not one of the accepted"),
        (b'<svg xmlns="http://www.w3.org/2000/svg"/>', "image/png", 415, "not one of the accepted image formats"),
    ],
)
def test_bad_uploads(client, data, ctype, status, message):
    r = upload(client, data, ctype)
    assert r.status_code == status
    assert message in r.json()["error"]


def test_the_format_is_decided_by_the_bytes_not_the_declared_type(client):
    """requests.post(url, files={"file": fh}) and curl -F file=@photo (no extension) send a part
    with no Content-Type, or application/octet-stream: a real image is still an image."""
    photo = PHOTO.read_bytes()
    for files in (
        {"file": ("photo", photo)},  # no Content-Type at all
        {"file": ("photo", photo, "application/octet-stream")},
        {"file": ("photo.txt", photo, "text/plain")},  # a wrong declared type
    ):
        r = client.post("/v1/predict", files=files)
        assert r.status_code == 200, r.text
        assert len(r.json()["faces"]) == 1


def test_every_error_answers_in_the_app_format(client):
    checks = [
        (client.get("/no/such/page"), 404),
        (client.put("/v1/predict"), 405),
        (client.post("/v1/predict", data={"model": "m1"}), 422),  # no file: FastAPI's validation error
        (upload(client, model="x" * 1_000_000), 422),
    ]
    for r, status in checks:
        body = r.json()
        assert r.status_code == status and set(body) == {"error", "status"} and body["status"] == status, body
        assert len(body["error"]) < 400 and "Traceback" not in body["error"]
    assert "file" in checks[2][0].json()["error"]


def test_an_unexpected_failure_is_a_json_500_without_a_trace(ckpt):
    app = create_app([str(ckpt)])

    @app.get("/boom")
    async def boom():
        raise RuntimeError("/secret/server/path exploded")

    with TestClient(app, raise_server_exceptions=False, base_url=LOCAL) as c:
        r = c.get("/boom")
    assert r.status_code == 500 and r.json() == {"error": "internal error while handling the request", "status": 500}


def test_bomb_oversize_unknown_model(ckpt, client, tmp_path):
    buf = io.BytesIO()
    Image.new("1", (20000, 20000)).save(buf, format="PNG", optimize=True)
    r = upload(client, buf.getvalue(), "image/png")
    assert r.status_code == 422 and "decompression bomb" in r.json()["error"]
    r = upload(client, model="../../etc/passwd")
    assert r.status_code == 422 and "unknown model" in r.json()["error"]
    with TestClient(create_app([str(ckpt)], limits=ServeLimits(max_upload_mb=0.01)), base_url=LOCAL) as small:
        r = upload(small)
        assert r.status_code == 413 and "larger than" in r.json()["error"]


def test_timeout_is_504(ckpt):
    with TestClient(create_app([str(ckpt)], limits=ServeLimits(timeout_s=1e-6)), base_url=LOCAL) as c:
        r = upload(c)
        assert r.status_code == 504 and "longer than" in r.json()["error"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LiveServer:
    def __init__(self, app):
        self.port = _free_port()
        self.app = app
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="error"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self):
        self.thread.start()
        deadline = time.time() + 20
        while not self.server.started and time.time() < deadline:
            time.sleep(0.05)
        return f"http://127.0.0.1:{self.port}"

    def __exit__(self, *exc):
        self.server.should_exit = True
        self.thread.join(10)


async def _burst(url: str, n: int) -> list[httpx.Response]:
    data = PHOTO.read_bytes()
    async with httpx.AsyncClient(timeout=60) as c:
        return await asyncio.gather(
            *[c.post(f"{url}/v1/predict", files={"file": ("x.jpg", data, "image/jpeg")}) for _ in range(n)]
        )


def test_100_concurrent_requests_no_5xx_but_503_and_healthy_after(ckpt):
    app = create_app([str(ckpt)], limits=ServeLimits(max_concurrency=2, max_queue=30))
    with LiveServer(app) as url:
        rs = asyncio.run(_burst(url, 100))
        codes = [r.status_code for r in rs]
        assert set(codes) <= {200, 503}, codes
        assert codes.count(200) >= 30 and codes.count(503) > 0
        assert all(r.headers.get("retry-after") == "1" for r in rs if r.status_code == 503)
        assert httpx.get(f"{url}/healthz").json() == {"status": "ok", "models": ["m1"], "in_flight": 0}
        assert asyncio.run(_burst(url, 1))[0].status_code == 200


def test_micro_batching_merges_concurrent_requests(ckpt):
    app = create_app([str(ckpt)], limits=ServeLimits(max_concurrency=16, batch_window_ms=50))
    with LiveServer(app) as url:
        rs = asyncio.run(_burst(url, 16))
        assert all(r.status_code == 200 for r in rs), [(r.status_code, r.text[:200]) for r in rs]
        calls = app.state.batchers["m1"].calls
        assert 1 <= calls < 16  # 16 faces, fewer model calls
        probs = {tuple(r.json()["faces"][0]["probs"].values()) for r in rs}
        assert len(probs) == 1  # batching does not change answers


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")


@pytest.mark.skipif(not (CHROMIUM and CHROMEDRIVER), reason="Debian chromium + chromium-driver not installed")
def test_real_browser_uploads_and_draws(ckpt, tmp_path):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for a in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--no-first-run",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
    ):
        opts.add_argument(a)
    with LiveServer(create_app([str(ckpt)])) as url:
        driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
        try:
            driver.get(url)
            WebDriverWait(driver, 20).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#model option"))
            assert not driver.find_element(By.ID, "canvas").is_displayed()  # no empty canvas on opening
            driver.find_element(By.ID, "file").send_keys(str(PHOTO))
            WebDriverWait(driver, 30).until(
                lambda d: d.find_element(By.ID, "canvas").get_attribute("data-faces") is not None
            )
            canvas = driver.find_element(By.ID, "canvas")
            assert canvas.get_attribute("data-faces") == "1"
            label = canvas.get_attribute("data-labels")
            assert label in CLASSES
            items = driver.find_elements(By.CSS_SELECTOR, "#faces li.face")
            assert len(items) == 1 and items[0].get_attribute("data-label") == label
            # the box was drawn: the pixel on the box's left edge has the label's colour
            box = httpx.post(f"{url}/v1/predict", files={"file": ("x.jpg", PHOTO.read_bytes(), "image/jpeg")}).json()[
                "faces"
            ][0]["box"]
            rgb = driver.execute_script(
                "const c=document.getElementById('canvas').getContext('2d');"
                "return Array.from(c.getImageData(arguments[0], arguments[1], 1, 1).data.slice(0,3));",
                box[0],
                box[1] + box[3] // 2,
            )
            colours = {
                "angry": (214, 39, 40),
                "disgust": (140, 86, 75),
                "fear": (148, 103, 189),
                "happy": (255, 191, 0),
                "sad": (31, 119, 180),
                "surprise": (255, 127, 14),
                "neutral": (127, 127, 127),
            }
            assert max(abs(a - b) for a, b in zip(rgb, colours[label], strict=True)) <= 3, (rgb, label)
            assert "face(s)" in driver.find_element(By.ID, "status").text
            # a new upload that fails clears the last photo's results: no old faces beside the error
            bad = tmp_path / "notes.jpg"
            bad.write_bytes(b"not an image at all")
            driver.find_element(By.ID, "file").send_keys(str(bad))
            WebDriverWait(driver, 20).until(lambda d: "error" in d.find_element(By.ID, "status").get_attribute("class"))
            assert driver.find_elements(By.CSS_SELECTOR, "#faces li.face") == []
            assert not driver.find_element(By.ID, "canvas").is_displayed()
        finally:
            driver.quit()


# -- abuse (issue 12): each test fails without its fix


def _png(im: Image.Image) -> bytes:
    buf = io.BytesIO()
    im.save(buf, format="PNG")
    return buf.getvalue()


def _raw_exchange(port: int, head: bytes, body_chunks=(), max_send: int = 0) -> tuple[bytes, int]:
    """Send a raw request (headers, then body chunks until the server answers), return the
    answer and how many body bytes were sent before it came."""
    import select

    sent = 0
    with socket.create_connection(("127.0.0.1", port), timeout=20) as s:
        s.sendall(head)
        for chunk in body_chunks:
            if select.select([s], [], [], 0)[0]:
                break  # the server has answered
            try:
                s.sendall(chunk)
            except (BrokenPipeError, ConnectionResetError):
                break
            sent += len(chunk)
            if max_send and sent >= max_send:
                break
        s.settimeout(20)
        answer = b""
        try:
            while b"\r\n\r\n" not in answer or not answer.rstrip().endswith(b"}"):
                part = s.recv(65536)
                if not part:
                    break
                answer += part
        except (ConnectionResetError, TimeoutError):
            pass
    return answer, sent


def _head(framing: bytes) -> bytes:
    """A multipart POST's head; framing: its Content-Length or Transfer-Encoding line."""
    return (
        b"POST /v1/predict HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Content-Type: multipart/form-data; boundary=xx\r\n" + framing + b"\r\n\r\n"
    )


FILE_PART = b'--xx\r\nContent-Disposition: form-data; name="file"; filename="x.jpg"\r\nContent-Type: image/jpeg\r\n\r\n'


def test_body_cap_refuses_declared_and_streamed_bodies_before_reading_them(ckpt):
    app = create_app([str(ckpt)], limits=ServeLimits(max_upload_mb=1))
    with LiveServer(app) as url:
        port = int(url.rsplit(":", 1)[1])
        answer, sent = _raw_exchange(port, _head(b"Content-Length: 314572800"))  # 300 MB declared, not one byte sent
        assert answer.startswith(b"HTTP/1.1 413") and b'"upload larger than 1 MB"' in answer, answer[:200]
        # undeclared (chunked): refused once past the cap, not after the whole 64 MB
        chunk = b"4000\r\n" + b"\0" * 0x4000 + b"\r\n"
        first = f"{len(FILE_PART):x}\r\n".encode() + FILE_PART + b"\r\n"
        body = itertools.chain([first], (chunk for _ in range(4096)))
        answer, sent = _raw_exchange(port, _head(b"Transfer-Encoding: chunked"), body, max_send=64 << 20)
        assert answer.startswith(b"HTTP/1.1 413") and b'"status": 413' in answer, answer[:200]
        assert sent < 8 << 20  # the cap (1 MB) plus what socket buffers hold
        assert httpx.get(f"{url}/healthz").status_code == 200


def test_a_client_trickling_its_body_is_answered_408(ckpt):
    app = create_app([str(ckpt)], limits=ServeLimits(body_timeout_s=0.5))
    with LiveServer(app) as url:
        port = int(url.rsplit(":", 1)[1])
        t = time.perf_counter()
        answer, _ = _raw_exchange(port, _head(b"Content-Length: 60000") + FILE_PART[:60])  # then nothing more
        assert answer.startswith(b"HTTP/1.1 408") and b"upload too slow: no data for 0.5 s" in answer, answer[:300]
        assert time.perf_counter() - t < 5
        assert httpx.get(f"{url}/healthz").status_code == 200


def test_many_faces_are_capped_to_the_largest(ckpt):
    hopper = np.asarray(Image.open(PHOTO).convert("RGB"))
    small = np.asarray(Image.fromarray(hopper).resize((hopper.shape[1] // 2, hopper.shape[0] // 2)))
    canvas = np.full((hopper.shape[0], hopper.shape[1] * 3, 3), 255, np.uint8)
    canvas[:, : hopper.shape[1]] = hopper
    for i in (1, 2):  # two half-size copies beside the full-size one
        canvas[: small.shape[0], hopper.shape[1] * i : hopper.shape[1] * i + small.shape[1]] = small
    data = _png(Image.fromarray(canvas))
    with TestClient(create_app([str(ckpt)], limits=ServeLimits(max_faces=1)), base_url=LOCAL) as c:
        body = upload(c, data, "image/png").json()
    with TestClient(create_app([str(ckpt)]), base_url=LOCAL) as c:
        every = upload(c, data, "image/png").json()
    assert len(every["faces"]) == 3 and every["faces_dropped"] == 0
    assert len(body["faces"]) == 1 and body["faces_dropped"] == 2
    largest = max(every["faces"], key=lambda f: f["box"][2] * f["box"][3])
    assert body["faces"][0]["box"] == largest["box"]


class SlowDetector:
    def __init__(self, inner, seconds: float) -> None:
        self.inner, self.seconds = inner, seconds

    def detect(self, rgb):
        time.sleep(self.seconds)
        return self.inner.detect(rgb)


def test_a_timed_out_request_holds_its_slot_until_its_work_ends_and_then_stops(ckpt):
    app = create_app([str(ckpt)], limits=ServeLimits(timeout_s=0.3, max_concurrency=1))
    rec = app.state.recognizers["m1"]
    rec._detector = SlowDetector(rec.detector, 0.8)
    with TestClient(app, base_url=LOCAL) as c:
        r = upload(c)
        assert r.status_code == 504 and "counted from its arrival" in r.json()["error"]
        # its detection is still running in a thread: the slot stays taken, so abandoned work
        # cannot pile up beyond --concurrency threads
        assert app.state.gate.sem.locked()
        time.sleep(0.8)
        assert not app.state.gate.sem.locked()
        assert app.state.batchers["m1"].calls == 0  # and nothing of the request ran after it


class FixedSlowDetector:
    """Takes exactly `seconds` and finds what the real detector found once: the test's timing is
    then the sleep's, not this machine's speed at detection."""

    def __init__(self, inner, seconds: float) -> None:
        self.faces = inner.detect(np.asarray(Image.open(PHOTO).convert("RGB")))
        self.seconds = seconds

    def detect(self, rgb):
        time.sleep(self.seconds)
        return list(self.faces)


def test_deadline_counts_the_wait_and_hopeless_requests_are_shed(ckpt):
    app = create_app([str(ckpt)], limits=ServeLimits(timeout_s=2.0, max_concurrency=1))
    rec = app.state.recognizers["m1"]
    rec._detector = FixedSlowDetector(rec.detector, 0.7)

    async def three():
        data = PHOTO.read_bytes()
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=LOCAL, timeout=30) as c:
            return await asyncio.gather(
                *[c.post("/v1/predict", files={"file": ("x.jpg", data, "image/jpeg")}) for _ in range(3)]
            )

    codes = sorted(r.status_code for r in asyncio.run(three()))
    # one slot, 0.7 s each: the second ends at ~1.4 s, the third would at ~2.1 s, past its 2 s
    # deadline counted from arrival (0.3 s per request left for decoding and classifying)
    assert codes[:2] == [200, 200] and codes[2] in (503, 504), codes
    # a request that cannot be served within its deadline is refused at once, with a hint when to retry
    gate = app.state.gate
    gate.service_s, gate.inside = 30.0, 5
    with TestClient(app, base_url=LOCAL) as c:
        t = time.perf_counter()
        r = upload(c)
    gate.inside = 0
    assert r.status_code == 503 and "longer than the deadline" in r.json()["error"]
    assert int(r.headers["retry-after"]) >= 30 and time.perf_counter() - t < 1.0


def test_pixel_cap_and_reduced_decoding(ckpt):
    with TestClient(create_app([str(ckpt)], limits=ServeLimits(max_pixels=8_000_000)), base_url=LOCAL) as c:
        r = upload(c, _png(Image.new("P", (4000, 2500))), "image/png")  # 10 MP, 20 KB on the wire
        assert r.status_code == 422 and "over the 8,000,000-pixel limit" in r.json()["error"]
        # a large PNG is decoded reduced (here to half); boxes still come in the upload's own pixels
        photo = Image.open(PHOTO).convert("RGB")
        big = photo.resize((photo.width * 5, photo.height * 5), Image.Resampling.BICUBIC)
        small_face = upload(c, _png(photo), "image/png").json()["faces"][0]["box"]
        body = upload(c, _png(big), "image/png").json()
    assert body["image"] == {"width": big.width, "height": big.height}
    (face,) = body["faces"]
    side = 5 * small_face[2]
    assert all(abs(a - 5 * b) <= 0.15 * side for a, b in zip(face["box"], small_face, strict=True)), face["box"]


def test_decoding_is_bounded(ckpt, monkeypatch):
    from ferlab.inference import recognizer  # the server's first stage decodes there

    busy, most = [0], [0]
    lock = threading.Lock()
    real = recognizer.open_image_bytes

    def counting(*a, **kw):
        with lock:
            busy[0] += 1
            most[0] = max(most[0], busy[0])
        time.sleep(0.1)
        try:
            return real(*a, **kw)
        finally:
            with lock:
                busy[0] -= 1

    monkeypatch.setattr(recognizer, "open_image_bytes", counting)
    app = create_app([str(ckpt)], limits=ServeLimits(decode_slots=1, max_concurrency=4))

    async def four():
        data = PHOTO.read_bytes()
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=LOCAL, timeout=30) as c:
            return await asyncio.gather(
                *[c.post("/v1/predict", files={"file": ("x.jpg", data, "image/jpeg")}) for _ in range(4)]
            )

    assert [r.status_code for r in asyncio.run(four())] == [200] * 4
    assert most[0] == 1


def test_host_check_and_cors_are_off_site_safe_by_default(ckpt, client):
    r = client.get("/v1/models", headers={"host": "rebind.attacker.example"})
    assert r.status_code == 400 and r.json() == {
        "error": "host 'rebind.attacker.example' is not served here (start the server with --allowed-host)",
        "status": 400,
    }
    assert client.get("/healthz", headers={"host": "127.0.0.1:8000"}).status_code == 200
    r = client.get("/v1/models", headers={"origin": "https://evil.example"})
    assert r.status_code == 200 and "access-control-allow-origin" not in r.headers
    app = create_app([str(ckpt)], allowed_hosts=["faces.lan"], cors_origins=["https://app.example"])
    with TestClient(app, base_url="http://faces.lan") as c:
        ok = c.get("/v1/models", headers={"origin": "https://app.example"})
        assert ok.headers["access-control-allow-origin"] == "https://app.example"
        assert "access-control-allow-origin" not in c.get("/v1/models", headers={"origin": "https://x.example"}).headers
        assert c.get("/healthz", headers={"host": "localhost"}).status_code == 400


def test_heatmaps_use_their_own_model_while_the_batcher_runs(ckpt):
    app = create_app([str(ckpt)], limits=ServeLimits(max_concurrency=8))
    rec = app.state.recognizers["m1"]
    assert rec.backend == "torch"  # the case where the classifier runs the same torch model

    async def mixed():
        data = PHOTO.read_bytes()
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=LOCAL, timeout=60) as ac:
            plain = await ac.post("/v1/predict", files={"file": ("x.jpg", data, "image/jpeg")})
            rs = await asyncio.gather(
                *[
                    ac.post(
                        "/v1/predict",
                        files={"file": ("x.jpg", data, "image/jpeg")},
                        data={"explain": "true" if i % 2 else "false"},
                    )
                    for i in range(12)
                ]
            )
            return plain, rs

    plain, rs = asyncio.run(mixed())
    assert all(r.status_code == 200 for r in rs), [(r.status_code, r.text[:200]) for r in rs]
    for i, r in enumerate(rs):
        (face,) = r.json()["faces"]
        assert face["probs"] == plain.json()["faces"][0]["probs"]
        assert ("heatmap_png" in face) == bool(i % 2)
    explainer = app.state.explainers["m1"]
    assert explainer.model is not None and explainer.model is not rec._model
    assert not rec._model._forward_hooks and not rec._model._backward_hooks


@pytest.mark.slow
def test_sigterm_drains_and_exits_0(ckpt):
    import os
    import signal
    import subprocess
    import sys

    port = _free_port()
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "ferlab.cli",
            "serve",
            "--model",
            str(ckpt),
            "--port",
            str(port),
            "--graceful-timeout",
            "5",
        ],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        r = httpx.post(
            f"http://127.0.0.1:{port}/v1/predict", files={"file": ("x.jpg", PHOTO.read_bytes(), "image/jpeg")}
        )
        assert r.status_code == 200
        t = time.time()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0, proc.stderr.read()
        assert time.time() - t < 6
        # it said where it listens, once it did
        assert f"ferlab: serving m1 on http://127.0.0.1:{port}/ (page /, API POST /v1/predict" in proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()


def test_a_bad_or_busy_port_is_one_line_before_any_model_loads(capsys):
    import socket

    from ferlab.cli import main

    with pytest.raises(SystemExit) as e:
        main(["serve", "--port", "99999"])
    assert e.value.code == 2 and "a TCP port is 1-65535, got 99999" in capsys.readouterr().err
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        assert main(["serve", "--port", str(port)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"127.0.0.1:{port}: cannot listen there: in use" in err


def test_the_server_knows_when_its_drain_was_cut_short():
    """`ferlab serve` exits 1 when --graceful-timeout cut running requests off: ferlab's uvicorn
    Server records it from the requests still running when shutdown began."""
    import threading

    from fastapi import FastAPI

    from ferlab.serve.server import Server

    def run(hold_s: float, grace_s: float) -> bool:
        app = FastAPI()
        app.state.recognizers = {}

        @app.get("/slow")
        async def slow():
            await asyncio.sleep(hold_s)
            return {}

        port = _free_port()
        server = Server(uvicorn.Config(app, port=port, log_level="critical", timeout_graceful_shutdown=grace_s))
        thread = threading.Thread(target=server.run)
        thread.start()
        while not server.started:
            time.sleep(0.02)
        asker = threading.Thread(target=lambda: httpx.get(f"http://127.0.0.1:{port}/slow", timeout=10), daemon=True)
        asker.start()
        time.sleep(0.3)  # the request is running
        server.should_exit = True
        thread.join(20)
        return server.drained

    assert run(hold_s=0.5, grace_s=5) is True  # it finished within the grace time
    assert run(hold_s=5, grace_s=0.3) is False  # it was cancelled


def test_explanations_run_inside_the_concurrency_limit(ckpt, monkeypatch):
    """explain=true used to run beside --concurrency: eight explained requests made the server
    grow by 1.5 GB and made plain requests behind them wait."""
    from ferlab.serve.app import Explainer

    app = create_app([str(ckpt)], limits=ServeLimits(max_concurrency=1))
    held = []
    real = Explainer.heatmaps

    def watched(self, crops, cancelled=None):
        held.append(app.state.gate.sem.locked())  # the one slot is this explanation's
        return real(self, crops, cancelled)

    monkeypatch.setattr(Explainer, "heatmaps", watched)
    with TestClient(app, base_url=LOCAL) as c:
        r = upload(c, explain="true")
    assert r.status_code == 200 and "heatmap_png" in r.json()["faces"][0] and held == [True]


def test_a_timed_out_explanation_stops_its_work(ckpt, monkeypatch):
    import ferlab.inference.explain as explain_module
    import ferlab.serve.app as serve_app

    calls = []
    real = explain_module.grad_cam

    def slow_grad_cam(model, card, crops):
        calls.append(len(crops))
        time.sleep(0.4)
        return real(model, card, crops)

    monkeypatch.setattr(explain_module, "grad_cam", slow_grad_cam)
    monkeypatch.setattr(serve_app, "EXPLAIN_BATCH", 1)
    many = np.asarray(Image.open(PHOTO).convert("RGB"))
    many = np.concatenate([many] * 4, axis=1)  # four faces side by side
    app = create_app([str(ckpt)], limits=ServeLimits(timeout_s=1.0))
    with TestClient(app, base_url=LOCAL) as c:
        r = upload(c, _png(Image.fromarray(many)), "image/png", explain="true")
        assert r.status_code == 504
        time.sleep(2.0)  # long enough for the four faces, had the work gone on
    assert 1 <= len(calls) <= 3  # it stopped at the next face once its request had given up


def test_an_upload_trickled_for_longer_than_the_deadline_is_answered_408(ckpt):
    """A client sending one byte every 0.2 s was held for as long as it kept sending."""
    app = create_app([str(ckpt)], limits=ServeLimits(timeout_s=1.0, body_timeout_s=30))
    with LiveServer(app) as url:
        port = int(url.rsplit(":", 1)[1])
        t = time.perf_counter()

        def trickle():
            yield FILE_PART
            for _ in range(200):
                time.sleep(0.2)
                yield b"x"

        answer, _ = _raw_exchange(port, _head(b"Content-Length: 60000"), trickle())
        assert answer.startswith(b"HTTP/1.1 408"), answer[:300]
        assert b"upload too slow: not complete within the 1 s deadline" in answer
        assert time.perf_counter() - t < 5
