"""The FastAPI app: `POST /v1/predict`, `GET /v1/models`, `GET /healthz`, the web page at `/`.

Safety: only the configured host names are answered (400); bodies are size-capped while they
arrive (413, ferlab.serve.guards); uploads are format-checked against an allow-list (415) and
decoded reduced, under a pixel cap and at most `decode_slots` at a time (422 beyond the cap);
each request has a deadline counted from its arrival (504), and is refused at once (503 with
Retry-After) when the expected wait alone would exceed it; at most `max_concurrency` requests
run and `max_queue` wait; at most `max_faces` faces per image are classified (the largest).
Nothing in a request names a server file: models are chosen by the names loaded at start.
"""

from __future__ import annotations

import asyncio
import base64
import io
import math
import threading
import time
from contextlib import asynccontextmanager
from pathlib import Path

import numpy as np
from fastapi import FastAPI, File, Form, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from ferlab.errors import FerlabError
from ferlab.inference.images import UnsupportedFormat
from ferlab.inference.recognizer import Recognizer, Staged
from ferlab.options import RecognizerOptions
from ferlab.serve.batching import MicroBatcher
from ferlab.serve.guards import LOCAL_HOSTS, RequestGuard
from ferlab.serve.limits import ServeLimits

STATIC = Path(__file__).parent / "static"
FAVICON = (
    b'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32"><circle cx="16" cy="16" r="15" fill="#f4c430"/>'
    b'<circle cx="11" cy="12" r="2"/><circle cx="21" cy="12" r="2"/>'
    b'<path d="M9 19q7 7 14 0" stroke="#000" stroke-width="2" fill="none"/></svg>'
)
MULTIPART_SLACK = 64 * 1024  # form boundaries and headers around the file


def _error(status: int, message: str, headers: dict | None = None) -> JSONResponse:
    return JSONResponse({"error": message, "status": status}, status_code=status, headers=headers)


class Gate:
    """Bounded concurrency with a bounded wait list, and an estimate of the wait.

    A slot is held until the work in its thread has ended, even when the request that started it
    has given up (deadline), so abandoned work still counts against `running`."""

    def __init__(self, running: int, waiting: int) -> None:
        self.running = running
        self.sem = asyncio.Semaphore(running)
        self.capacity = running + waiting
        self.inside = 0
        self.service_s = 0.05  # moving average of a request's time once it has a slot

    def try_enter(self) -> bool:
        if self.inside >= self.capacity:
            return False
        self.inside += 1
        return True

    def leave(self) -> None:
        self.inside -= 1

    def expected_wait(self) -> float:
        """Seconds a request just let in can expect to wait for a slot."""
        return max(0, self.inside - self.running) * self.service_s / self.running

    def observe(self, seconds: float) -> None:
        self.service_s += 0.2 * (seconds - self.service_s)

    async def run(self, fn, *args):
        """fn(*args) in a worker thread, in a slot that is freed when the thread ends."""
        await self.sem.acquire()
        fut = asyncio.get_running_loop().run_in_executor(None, fn, *args)
        fut.add_done_callback(lambda _: self.sem.release())
        return await asyncio.shield(fut)


# Grad-CAM runs on this many faces at a time: its autograd graph (the memory it takes) stays small,
# and a request that has given up is noticed between groups.
EXPLAIN_BATCH = 8


class Explainer:
    """Grad-CAM on a model instance of its own, one request at a time: its hooks never touch the
    model the batcher is running in another thread. It runs in a slot of the server's gate like
    any request's work, stops between groups of faces once its request has given up, and hands
    freed memory back to the system when it is done."""

    def __init__(self, rec: Recognizer) -> None:
        self.rec = rec
        self.lock = threading.Lock()
        self.model = None

    def heatmaps(self, crops: np.ndarray, cancelled: threading.Event | None = None) -> list[str] | None:
        """A PNG (base64) per face, or None when `cancelled` was set before the work was done."""
        from PIL import Image

        from ferlab.checkpoint import load_model
        from ferlab.inference.explain import grad_cam, overlay

        cams = []
        with self.lock:
            if self.model is None:
                self.model, _ = load_model(self.rec.card["_path"])
            for i in range(0, len(crops), EXPLAIN_BATCH):
                if cancelled is not None and cancelled.is_set():
                    break
                cams.extend(grad_cam(self.model, self.rec.card, crops[i : i + EXPLAIN_BATCH])[0])
        _release_memory()
        if len(cams) < len(crops):
            return None
        out = []
        for face, cam in zip(crops, cams, strict=True):
            buf = io.BytesIO()
            Image.fromarray(overlay(face, cam, 192)).save(buf, format="PNG")
            out.append(base64.b64encode(buf.getvalue()).decode())
        return out


def _release_memory() -> None:
    """Return freed heap to the system (glibc keeps it otherwise: a burst of explanations would
    leave the server at its peak size); a no-op where there is no glibc."""
    import ctypes
    import ctypes.util
    import gc

    gc.collect()
    libc = ctypes.util.find_library("c")
    if libc and hasattr(ctypes.CDLL(libc), "malloc_trim"):
        ctypes.CDLL(libc).malloc_trim(0)


class Service:
    """What answering a request needs, per app: the recognizers by name, a micro-batcher and a
    Grad-CAM explainer per model, the gate (concurrency, queue, wait estimate) and the decoding
    slots. `recognize` runs the recognizer's stages for one upload, the micro-batcher between
    the first two."""

    def __init__(self, recognizers: dict[str, Recognizer], limits: ServeLimits, micro_batch: bool) -> None:
        self.recognizers, self.limits = recognizers, limits
        self.default = next(iter(recognizers))
        self.batchers = {
            name: MicroBatcher(rec.probabilities, window_ms=limits.batch_window_ms, enabled=micro_batch)
            for name, rec in recognizers.items()
        }
        self.explainers = {name: Explainer(rec) for name, rec in recognizers.items()}
        self.max_bytes = int(limits.max_upload_mb * 1024 * 1024)
        self.gate = Gate(limits.max_concurrency, limits.max_queue)
        self.decoding = threading.BoundedSemaphore(limits.decode_slots)

    def prepare(self, rec: Recognizer, data: bytes, where: str) -> tuple[Staged, float]:
        """The recognizer's first stage — decode (at most `decode_slots` at once, reduced), find
        faces, crop — a request's CPU work; and its duration, for the wait estimate."""
        t0 = time.monotonic()
        staged = rec.preprocess(
            data, name=where, allow_list=True, max_pixels=self.limits.max_pixels, decoding=self.decoding
        )
        return staged, time.monotonic() - t0

    async def classify(self, rec: Recognizer, name: str, staged: Staged, explain: bool, min_confidence: float):
        """The last two stages, with the micro-batcher between them; Grad-CAM when asked, in a
        slot of the gate (explanations count against --concurrency like any work) and told to
        stop when the request gives up (its deadline)."""
        probs = await self.batchers[name](staged.crops)
        result = rec.postprocess(staged, probs, min_confidence=min_confidence)
        heat = None
        if explain and staged.found:
            cancelled = threading.Event()
            try:
                heat = await self.gate.run(self.explainers[name].heatmaps, staged.crops, cancelled)
            finally:
                cancelled.set()  # a timed-out request: the thread stops at its next group of faces
        return result, heat

    async def recognize(
        self, name: str, data: bytes, where: str, *, arrived: float, explain: bool, min_confidence: float
    ):
        """One upload's answer: admitted by the gate, within the deadline counted from arrival."""
        if not self.gate.try_enter():
            return _error(503, "server busy: too many requests waiting", {"Retry-After": "1"})
        rec = self.recognizers[name]
        try:
            left = self.limits.timeout_s - (time.monotonic() - arrived)
            wait = self.gate.expected_wait()
            if wait > 0 and wait > left:
                return _error(
                    503,
                    f"server busy: the expected wait ({wait:.1f} s) is longer than the deadline",
                    {"Retry-After": str(max(1, math.ceil(wait)))},
                )
            async with asyncio.timeout(max(left, 0.0)):
                staged, work_s = await self.gate.run(self.prepare, rec, data, where)
                started = time.monotonic()
                result, heat = await self.classify(rec, name, staged, explain, min_confidence)
                self.gate.observe(work_s + time.monotonic() - started)
        except TimeoutError:
            return _error(504, f"request took longer than {self.limits.timeout_s:g} s (counted from its arrival)")
        except UnsupportedFormat as e:
            return _error(415, str(e))
        except FerlabError as e:  # undecodable, over the pixel cap, too elongated to search
            return _error(422, str(e))
        finally:
            self.gate.leave()
        out = [f.to_dict() for f in result.faces]
        for f, png in zip(out, heat or [], strict=False):
            f["heatmap_png"] = png
        settings = rec.settings()
        return {
            "faces": out,
            "faces_dropped": result.dropped,
            "model": name,
            "tta": settings["tta"],
            "detector": settings["detector"],
            "ms": round((time.monotonic() - arrived) * 1000, 2),
            "image": {"width": result.size[0], "height": result.size[1]},
        }


def create_app(
    models: list[str | None] | None = None,
    *,
    options: RecognizerOptions | None = None,
    limits: ServeLimits | None = None,
    micro_batch: bool = True,
    allowed_hosts: list[str] | tuple[str, ...] = LOCAL_HOSTS,
    cors_origins: list[str] | None = None,
) -> FastAPI:
    """The FastAPI app behind `ferlab serve`.

    models: model references to load (bundled names or paths); the first is the default, each
        runs as its card ships it. options: the RecognizerOptions every model runs with (detector,
        thresholds, TTA...; the model field is ignored: `models` names them; max_faces, where
        unset, is the limits'). limits: sizes, deadlines and concurrency (ServeLimits).
        micro_batch: classify the faces of concurrent requests in one model call.
        allowed_hosts: Host header names answered ("*": any). cors_origins: browser origins
        allowed cross-site (none by default).
    """
    lim = limits or ServeLimits()
    opts = options or RecognizerOptions()
    service = Service(_load(models, opts.replace(max_faces=opts.max_faces or lim.max_faces)), lim, micro_batch)
    recognizers, batchers, gate = service.recognizers, service.batchers, service.gate
    default, max_bytes = service.default, service.max_bytes

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        for b in batchers.values():
            await b.start()
        yield
        for b in batchers.values():
            await b.stop()

    app = FastAPI(
        title="ferlab",
        version=__import__("ferlab").__version__,
        lifespan=lifespan,
        description="Facial emotion recognition: faces found, classified, explained.",
        # Swagger UI and ReDoc load their scripts from a CDN (blank offline, and a third party in a
        # local tool): the schema stays at /openapi.json.
        docs_url=None,
        redoc_url=None,
    )
    if cors_origins:
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(CORSMiddleware, allow_origins=cors_origins, allow_methods=["GET", "POST"])
    # outermost: the Host check and the body cap come before anything reads the request
    app.add_middleware(
        RequestGuard,
        max_body=max_bytes + MULTIPART_SLACK,
        allowed_hosts=allowed_hosts,
        max_mb=lim.max_upload_mb,
        body_timeout_s=lim.body_timeout_s,
        upload_deadline_s=lim.timeout_s,
    )
    app.state.batchers = batchers
    app.state.gate = gate
    app.state.recognizers = recognizers
    app.state.explainers = service.explainers
    app.state.limits = lim

    _answer_errors_in_one_format(app)

    @app.get("/healthz")
    async def healthz() -> dict:
        return {"status": "ok", "models": list(recognizers), "in_flight": gate.inside}

    @app.get("/v1/models")
    async def list_models() -> dict:
        return {
            "default": default,
            "models": [
                {"name": n, "card": {k: v for k, v in r.card.items() if not k.startswith("_")}}
                for n, r in recognizers.items()
            ],
        }

    @app.post("/v1/predict")
    async def predict(
        request: Request,
        file: UploadFile = File(...),
        model: str | None = Form(None),
        explain: bool = Form(False),
        min_confidence: float = Form(0.0, ge=0.0, le=1.0),
    ):
        arrived = getattr(request.state, "arrived", time.monotonic())
        name = model or request.query_params.get("model") or default
        if name not in recognizers:
            return _error(422, f"unknown model {name[:40]!r}; loaded: {', '.join(recognizers)}")
        explain = explain or request.query_params.get("explain", "").lower() in ("1", "true", "yes")
        # The format is decided by the bytes' signature (open_image_bytes' allow-list), never by the
        # part's Content-Type: `requests.post(url, files={"file": fh})` and `curl -F file=@photo`
        # without an extension send none, and a declared type proves nothing about the bytes.
        data = await file.read(max_bytes + 1)
        if len(data) > max_bytes:
            return _error(413, f"upload larger than {lim.max_upload_mb:g} MB")
        return await service.recognize(
            name,
            data,
            (file.filename or "upload")[:80],
            arrived=arrived,
            explain=explain,
            min_confidence=min_confidence,
        )

    _add_page(app)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app


def _load(models: list[str | None] | None, options: RecognizerOptions) -> dict[str, Recognizer]:
    """A recognizer per model reference, by the name its card gives (the first is the default)."""
    recognizers: dict[str, Recognizer] = {}
    for ref in models or [None]:
        rec = Recognizer(options=options.replace(model=ref))
        recognizers.setdefault(rec.name, rec)
    return recognizers


def _answer_errors_in_one_format(app: FastAPI) -> None:
    """Every error answers in the app's one format, {"error", "status"}: FastAPI's validation
    errors, Starlette's 404/405, and anything unexpected (no stack trace, no server path)."""

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException):
        return _error(exc.status_code, str(exc.detail)[:200], getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError):
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e.get('loc', ())[1:]) or 'request'}: {e.get('msg', 'invalid')}"
            for e in exc.errors()[:5]
        )
        return _error(422, f"invalid request ({problems})"[:300])

    @app.exception_handler(Exception)
    async def unexpected_error(request: Request, exc: Exception):
        return _error(500, "internal error while handling the request")


def _add_page(app: FastAPI) -> None:
    """The web page and its icon."""

    @app.get("/", include_in_schema=False)
    async def index():
        return FileResponse(STATIC / "index.html", media_type="text/html")

    @app.get("/favicon.ico", include_in_schema=False)
    async def favicon():
        # a browser asks for it on every page load: an icon, not a 404 in every log
        return Response(FAVICON, media_type="image/svg+xml", headers={"Cache-Control": "max-age=86400"})
