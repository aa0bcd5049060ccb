"""Emotions over a video or a webcam: detection every N frames, simple IoU tracking, optional
temporal smoothing of each track's probabilities, a CSV row per frame and face, an annotated copy."""

from __future__ import annotations

import csv
import os
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from ferlab.detectors.base import iou
from ferlab.errors import FerlabError
from ferlab.inference.annotate import annotate
from ferlab.inference.recognizer import Recognizer


@dataclass
class Track:
    id: int
    box: tuple
    last_seen: int
    history: deque = field(default_factory=deque)


class IouTracker:
    """Greedy IoU matching of this frame's boxes to live tracks; unmatched boxes start new tracks."""

    def __init__(self, threshold: float = 0.3, max_missing: int = 15, smooth: int = 1) -> None:
        self.threshold = threshold
        self.max_missing = max_missing
        self.smooth = max(1, smooth)
        self.tracks: list[Track] = []
        self._next = 1

    def update(self, frame: int, boxes: list[tuple], probs: np.ndarray) -> list[tuple[int, np.ndarray]]:
        self.tracks = [t for t in self.tracks if frame - t.last_seen <= self.max_missing]
        pairs = sorted(
            ((iou(t.box, b), ti, bi) for ti, t in enumerate(self.tracks) for bi, b in enumerate(boxes)), reverse=True
        )
        assigned: dict[int, Track] = {}
        used_tracks: set[int] = set()
        for score, ti, bi in pairs:
            if score < self.threshold or ti in used_tracks or bi in assigned:
                continue
            assigned[bi] = self.tracks[ti]
            used_tracks.add(ti)
        out = []
        for bi, box in enumerate(boxes):
            t = assigned.get(bi)
            if t is None:
                t = Track(self._next, box, frame, deque(maxlen=self.smooth))
                self._next += 1
                self.tracks.append(t)
            t.box, t.last_seen = box, frame
            t.history.append(probs[bi])
            out.append((t.id, np.mean(t.history, axis=0)))
        return out


def _quiet_video_backends() -> None:
    """OpenCV and ffmpeg print their own warnings ("moov atom not found", "can't open camera by
    index") before ferlab's one-line error says the same thing clearly; keep them quiet."""
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")  # AV_LOG_QUIET, read when ffmpeg is first used
    os.environ.setdefault("OPENCV_LOG_LEVEL", "SILENT")
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)  # cv2 may be imported already


def open_source(source: str) -> cv2.VideoCapture:
    _quiet_video_backends()
    if not source.isdigit() and not os.path.exists(source):
        raise FerlabError(f"{source}: no such video file")
    cap = cv2.VideoCapture(int(source)) if source.isdigit() else cv2.VideoCapture(source)
    if not cap.isOpened():
        if source.isdigit():
            raise FerlabError(f"webcam {source}: cannot open (no camera at that index, or no permission)")
        if not os.path.exists(source):
            raise FerlabError(f"{source}: no such video file")
        raise FerlabError(f"{source}: cannot read as video (unsupported or corrupt)")
    return cap


def process_video(
    source: str,
    rec: Recognizer,
    *,
    out: str | None = None,
    csv_path: str | None = None,
    every: int = 1,
    smooth: int = 1,
    max_frames: int | None = None,
    progress: bool = True,
) -> dict:
    cap = open_source(source)
    fps = cap.get(cv2.CAP_PROP_FPS) or 30.0
    total = int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) or None
    if max_frames:
        total = min(total or max_frames, max_frames)
    tracker = IouTracker(smooth=smooth)
    # Frames are searched at reduced size (faces in video are rarely tiny): several times faster.
    detector = rec.detector if rec.options.mode == "video" else rec.video_detector()
    writer = None
    tmp_out = None
    rows: list[list] = []
    classes = rec.classes
    frame_no, last = 0, []
    t0 = time.perf_counter()
    bar = tqdm(
        total=total,
        unit="frame",
        disable=not progress,
        desc=Path(source).name if not source.isdigit() else f"webcam {source}",
    )
    try:
        while max_frames is None or frame_no < max_frames:
            ok, bgr = cap.read()
            if not ok:
                break
            rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
            if frame_no % max(1, every) == 0:
                found = rec.find_faces(rgb, detector=detector, where=f"frame {frame_no}")
                dets = [f.detection for f in found]
                probs = rec.probabilities(np.stack([f.crop for f in found])) if found else np.zeros((0, len(classes)))
                tracked = tracker.update(frame_no, [d.box for d in dets], probs)
                last = []
                for (tid, p), d in zip(tracked, dets, strict=True):
                    face = rec.faces_from([d], p[None])[0]
                    last.append((tid, face))
                    rows.append(
                        [
                            frame_no,
                            round(frame_no / fps, 3),
                            tid,
                            *d.box,
                            round(d.score, 3),
                            face.label,
                            *(round(float(v), 5) for v in p),
                            rec.name,
                            rec.tta,
                        ]
                    )
            if out:
                if writer is None:
                    h, w = bgr.shape[:2]
                    tmp_out = str(Path(out).with_name(f".{Path(out).stem}.tmp{Path(out).suffix or '.mp4'}"))
                    writer = cv2.VideoWriter(tmp_out, cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
                    if not writer.isOpened():
                        raise FerlabError(f"{out}: cannot open for writing as video")
                writer.write(annotate(rgb, [f for _, f in last]))
            frame_no += 1
            bar.update(1)
            bar.set_postfix(fps=f"{frame_no / (time.perf_counter() - t0):.1f}", faces=len(last))
    finally:
        bar.close()
        cap.release()
        if writer is not None:
            writer.release()
    if out and tmp_out:
        os.replace(tmp_out, out)
    if csv_path:
        from ferlab.io import atomic_write

        def write(tmp: str) -> None:
            with open(tmp, "w", newline="") as fh:
                w = csv.writer(fh)
                # each row says which model and test-time augmentation made its numbers
                w.writerow(["frame", "time_s", "track", "x", "y", "w", "h", "score", "label", *classes, "model", "tta"])
                w.writerows(rows)

        atomic_write(csv_path, write)
    seconds = time.perf_counter() - t0
    return {
        "frames": frame_no,
        "rows": len(rows),
        "seconds": seconds,
        "fps": frame_no / seconds if seconds else 0.0,
        "tracks": tracker._next - 1,
    }
