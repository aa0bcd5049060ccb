"""`ferlab serve`: the API in-process and over loopback, abuse, micro-batching, and a real browser."""

from __future__ import annotations

import asyncio
import base64
import io
import shutil
import socket
import threading
import time
from pathlib import Path

import httpx
import pytest
import torch
import uvicorn
from conftest import PHOTO
from fastapi.testclient import TestClient
from PIL import Image

from ferlab.checkpoint import make_card, save_checkpoint
from ferlab.labels import CLASSES
from ferlab.models import build, count_parameters
from ferlab.serve.app import create_app


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    m = build("cnn-v2.1").eval()
    d = tmp_path_factory.mktemp("ck") / "model"
    save_checkpoint(m, make_card("cnn-v2.1", {}, mean=0.5, std=0.25, params=count_parameters(m), name="m1"), d)
    return d


@pytest.fixture(scope="module")
def client(ckpt):
    with TestClient(create_app([str(ckpt)])) as c:
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
    assert Image.open(io.BytesIO(png)).size == (96, 96)


def test_models_health_docs(client):
    assert client.get("/healthz").json()["status"] == "ok"
    models = client.get("/v1/models").json()
    assert models["default"] == "m1" and models["models"][0]["card"]["classes"] == list(CLASSES)
    assert "/v1/predict" in client.get("/openapi.json").json()["paths"]
    assert client.get("/docs").status_code == 200
    page = client.get("/")
    assert page.status_code == 200 and "<canvas" in page.text
    assert "http" not in page.text.replace("http-equiv", "")  # no external CDN
    assert client.get("/static/app.js").status_code == 200


@pytest.mark.parametrize(
    "data, ctype, status, message",
    [
        (b"hello", "text/plain", 415, "is not an image type"),
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

    with TestClient(app, raise_server_exceptions=False) as c:
        r = c.get("/boom")
    assert r.status_code == 500 and r.json() == {"error": "internal error while handling the request", "status": 500}


def test_bomb_oversize_unknown_model(ckpt, client, tmp_path):
    buf = io.BytesIO()
    Image.new("1", (20000, 20000)).save(buf, format="PNG", optimize=True)
    r = upload(client, buf.getvalue(), "image/png")
    assert r.status_code == 422 and "decompression bomb" in r.json()["error"]
    r = upload(client, model="../../etc/passwd")
    assert r.status_code == 422 and "unknown model" in r.json()["error"]
    with TestClient(create_app([str(ckpt)], max_upload_mb=0.01)) as small:
        r = upload(small)
        assert r.status_code == 413 and "larger than" in r.json()["error"]


def test_timeout_is_504(ckpt):
    with TestClient(create_app([str(ckpt)], timeout_s=1e-6)) as c:
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
    app = create_app([str(ckpt)], max_concurrency=2, max_queue=30)
    with LiveServer(app) as url:
        rs = asyncio.run(_burst(url, 100))
        codes = [r.status_code for r in rs]
        assert set(codes) <= {200, 503}, codes
        assert codes.count(200) >= 30 and codes.count(503) > 0
        assert all(r.headers.get("retry-after") == "1" for r in rs if r.status_code == 503)
        assert httpx.get(f"{url}/healthz").json() == {"status": "ok", "models": ["m1"], "in_flight": 0}
        assert asyncio.run(_burst(url, 1))[0].status_code == 200


def test_micro_batching_merges_concurrent_requests(ckpt):
    app = create_app([str(ckpt)], max_concurrency=16, batch_window_ms=50)
    with LiveServer(app) as url:
        rs = asyncio.run(_burst(url, 16))
        assert all(r.status_code == 200 for r in rs)
        calls = app.state.batchers["m1"].calls
        assert 1 <= calls < 16  # 16 faces, fewer model calls
        probs = {tuple(r.json()["faces"][0]["probs"].values()) for r in rs}
        assert len(probs) == 1  # batching does not change answers


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")


@pytest.mark.skipif(not (CHROMIUM and CHROMEDRIVER), reason="Debian chromium + chromium-driver not installed")
def test_real_browser_uploads_and_draws(ckpt):
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
        finally:
            driver.quit()
