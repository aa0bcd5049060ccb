"""Emotions over a video or a webcam: detection every N frames, simple IoU tracking, optional
temporal smoothing of each track's probabilities, a CSV row per frame and face, an annotated copy."""

from __future__ import annotations

import csv
import itertools
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


@dataclass
class FrameResult:
    """One frame: its number, its time in the video, and the faces seen (each with its track id).
    Faces are those of the last detection on frames between detections (`every` > 1)."""

    frame: int
    time_s: float
    faces: list[tuple[int, object]]  # (track id, Face)
    detected: bool  # whether this frame was searched (else the faces are carried over)
    rgb: np.ndarray | None = field(default=None, repr=False)


def iter_video(
    source: str, rec: Recognizer, *, every: int = 1, smooth: int = 1, max_frames: int | None = None, keep_rgb=False
):
    """The Python API for video: yields a FrameResult per frame, as it is read.

    for fr in iter_video("clip.mp4", Recognizer(mode="video")):
        for track, face in fr.faces:
            print(fr.time_s, track, face.label)
    """
    cap = open_source(source)
    fps = cap.get(cv2.CAP_PROP_FPS) or 30.0
    tracker = IouTracker(smooth=smooth)
    # Frames are searched at the video preset's size (faces in video are rarely tiny): several times faster.
    detector = rec.detector if rec.options.mode == "video" else rec.video_detector()
    frame_no, last = 0, []
    try:
        while max_frames is None or frame_no < max_frames:
            ok, bgr = cap.read()
            if not ok:
                break
            rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
            searched = frame_no % max(1, every) == 0
            if searched:  # the recognizer's stages on a decoded frame, the tracker between the last two
                found = rec.find_faces(rgb, detector=detector, where=f"frame {frame_no}")
                dets = [f.detection for f in found]
                tracked = tracker.update(frame_no, [d.box for d in dets], rec.probabilities(found.crops))
                last = [(tid, rec.faces_from([d], p[None])[0]) for (tid, p), d in zip(tracked, dets, strict=True)]
            yield FrameResult(frame_no, round(frame_no / fps, 3), last, searched, rgb if keep_rgb else None)
            frame_no += 1
    finally:
        cap.release()


def video_summary(per_track: dict[int, list[str]], classes: list[str]) -> dict:
    """Share of the searched frames each emotion held, per track and over the whole video."""

    def shares(labels: list[str]) -> dict:
        n = len(labels)
        return {c: round(labels.count(c) / n, 4) for c in [*classes, "uncertain"] if labels.count(c)} if n else {}

    everything = [lab for labels in per_track.values() for lab in labels]
    return {
        "tracks": {str(t): {"frames": len(v), "share": shares(v)} for t, v in sorted(per_track.items())},
        "video": {"face_frames": len(everything), "share": shares(everything)},
    }


def open_video_writer(out: str, fps: float, size: tuple[int, int]):
    """(writer, temp path, codec): H.264 where this OpenCV build can encode it (browsers play
    it), else MPEG-4 part 2 (plays in VLC and most desktop players, not in every browser)."""
    tmp = str(Path(out).with_name(f".{Path(out).stem}.tmp{Path(out).suffix or '.mp4'}"))
    for codec in ("avc1", "mp4v"):
        writer = cv2.VideoWriter(tmp, cv2.VideoWriter_fourcc(*codec), fps, size)
        if writer.isOpened():
            return writer, tmp, codec
        writer.release()
    raise FerlabError(f"{out}: cannot open for writing as video")


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
    """`ferlab video`: CSV rows written as they come (flushed every frame), the annotated video
    finalised even on Ctrl-C (what was recorded is kept), and a summary per track."""
    from ferlab.inference.outputs import RUN_COLUMNS, VIDEO_COLUMNS, RunInfo, face_columns, face_row

    cap_probe = open_source(source)
    fps = cap_probe.get(cv2.CAP_PROP_FPS) or 30.0
    total = int(cap_probe.get(cv2.CAP_PROP_FRAME_COUNT)) or None
    cap_probe.release()
    if max_frames:
        total = min(total or max_frames, max_frames)
    run = RunInfo.of(rec)
    classes = list(rec.classes)
    writer = tmp_out = codec = None
    fh = None
    for path, flag in ((csv_path, "--csv"), (out, "--out")):
        if path and not Path(path).parent.is_dir():
            raise FerlabError(f"{path}: {flag}: the folder {Path(path).parent} does not exist")
        if path and Path(path).is_dir():
            raise FerlabError(f"{path}: {flag} needs a file name, and this is a folder")
    if csv_path:
        try:
            fh = open(csv_path, "w", newline="")
        except OSError as e:
            raise FerlabError(f"{csv_path}: --csv: cannot write it ({e.strerror or e})") from None
        rows_out = csv.writer(fh)
        rows_out.writerow([*VIDEO_COLUMNS, *face_columns(classes), *RUN_COLUMNS])
    n_rows, frames, interrupted = 0, 0, False
    per_track: dict[int, list[tuple[float, str]]] = {}
    bar = tqdm(
        total=total,
        unit="frame",
        disable=not progress,
        desc=Path(source).name if not source.isdigit() else f"webcam {source}",
    )
    t0 = None
    try:
        for fr in iter_video(source, rec, every=every, smooth=smooth, max_frames=max_frames, keep_rgb=bool(out)):
            # the frame goes to the video before its rows to the CSV: a Ctrl-C between the two leaves
            # no row whose frame the annotated video lacks
            if out:
                if writer is None:
                    h, w = fr.rgb.shape[:2]
                    writer, tmp_out, codec = open_video_writer(out, fps, (w, h))
                writer.write(annotate(fr.rgb, [f for _, f in fr.faces], numbers=[t for t, _ in fr.faces]))
            if fr.detected:
                for tid, face in fr.faces:
                    per_track.setdefault(tid, []).append((fr.time_s, face.label))
                n_rows += len(fr.faces)  # a row per frame and face, written or not
                if fh is not None:
                    for i, (tid, face) in enumerate(fr.faces, 1):
                        rows_out.writerow([fr.frame, fr.time_s, tid, *face_row(i, face, classes), *run.values()])
                    fh.flush()
            frames += 1
            if t0 is None:  # frames/s from the second frame: the first pays for warming the sessions up
                t0 = time.perf_counter()
            bar.update(1)
            if frames > 1:
                bar.set_postfix(fps=f"{(frames - 1) / (time.perf_counter() - t0):.1f}", faces=len(fr.faces))
    except KeyboardInterrupt:
        interrupted = True  # the only way to stop a webcam: keep what was recorded
    except BaseException:
        if writer is not None:
            writer.release()
            writer = None
        if tmp_out and os.path.exists(tmp_out):
            os.unlink(tmp_out)
        raise
    finally:
        bar.close()
        if fh is not None:
            fh.close()
        if writer is not None:
            writer.release()
    if frames == 0 and not interrupted:
        raise FerlabError(f"{source}: no frame could be read (not a video, or a video without frames)")
    if out and tmp_out:
        os.replace(tmp_out, out)
    seconds = time.perf_counter() - t0 if t0 else 0.0
    return {
        "source": source,
        "frames": frames,
        "rows": n_rows,
        "seconds": round(seconds, 3),
        "fps": (frames - 1) / seconds if seconds and frames > 1 else 0.0,
        "n_tracks": len(per_track),
        "interrupted": interrupted,
        "codec": codec,
        **{k: v for k, v in rec.settings().items() if k in ("model", "tta", "detector")},
        **video_summary({t: [lab for _, lab in v] for t, v in per_track.items()}, classes),
        "timeline": per_track,  # (time, label) per track: for plot_timeline, not for printing
    }


def plot_timeline(per_track: dict[int, list], out: str) -> None:
    """Emotions over time, one row per track (matplotlib: the [train] extra)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ferlab.io import atomic_write
    from ferlab.labels import COLOURS

    tracks = sorted(per_track)
    fig, axes = plt.subplots(
        max(1, len(tracks)), 1, figsize=(9, 1.2 + 0.9 * max(1, len(tracks))), squeeze=False, sharex=True
    )
    # one time axis for every track: a face that appears late is drawn late
    end = max((p[0] for points in per_track.values() for p in points), default=0.0) + 0.1
    for ax, t in zip(axes[:, 0], tracks or [None], strict=True):
        if t is None:
            ax.text(0.5, 0.5, "no face found", ha="center", va="center")
            ax.set_axis_off()
            continue
        points = per_track[t]
        times = [p[0] for p in points]
        step = min((b - a for a, b in itertools.pairwise(times) if b > a), default=1 / 30)
        for time_s, label in points:
            ax.barh(0, step, left=time_s, color=COLOURS.get(label, "#999999"), height=0.8)
        ax.set_yticks([0], [f"track {t}"])
        ax.set_xlim(0, end)
    axes[-1, 0].set_xlabel("time (s)")
    handles = [plt.Rectangle((0, 0), 1, 1, color=c) for c in COLOURS.values()]
    fig.legend(handles, list(COLOURS), loc="upper center", ncol=len(COLOURS), fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0, 1, 0.9))
    fmt = Path(out).suffix.lstrip(".") or "png"
    atomic_write(out, lambda tmp: fig.savefig(tmp, format=fmt, dpi=120))
    plt.close(fig)
