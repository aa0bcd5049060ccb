"""`ferlab video`: emotions over a video file or a webcam, tracked per face."""

from __future__ import annotations

from ferlab.cli.common import at_least_one, print_json
from ferlab.cli.recognition import add_recognizer_args, recognizer
from ferlab.errors import FerlabError


def add_parser(sub) -> None:
    v = sub.add_parser("video", help="emotions over a video file or webcam")
    v.add_argument("source", help="video file, or a webcam index such as 0")
    v.add_argument("--out", help="annotated video (.mp4)")
    v.add_argument("--csv", help="one row per frame and face")
    v.add_argument("--every", type=at_least_one, default=1, help="detect and classify every N-th frame")
    v.add_argument(
        "--smooth", type=at_least_one, default=1, help="average each track's probabilities over K detections"
    )
    v.add_argument("--max-frames", type=at_least_one, help="stop after this many frames")
    v.add_argument("--json", action="store_true", help="print the summary (per track and whole video) as JSON")
    v.add_argument("--plot", metavar="FILE", help="write a figure of the emotions over time, a row per track")
    # Real time comes first: one pass per face and frames searched at the video preset, whatever photos use.
    add_recognizer_args(v, mode="video")
    v.add_argument("--no-progress", action="store_true", help="no progress bars (logs, CI)")
    v.set_defaults(func=run)


def run(args) -> int:
    from ferlab.inference.video import plot_timeline, process_video

    if args.plot:
        import importlib.util

        if importlib.util.find_spec("matplotlib") is None:  # before the video, not after it
            raise FerlabError("--plot needs matplotlib: pip install 'ferlab[train]' (or matplotlib itself)")
    if args.prior == "collection":
        raise FerlabError(
            "--prior collection is estimated over a finished collection (predict, evaluate); a video is labelled "
            "as it plays: use --prior uniform"
        )
    res = process_video(
        args.source,
        recognizer(args),
        out=args.out,
        csv_path=args.csv,
        every=args.every,
        smooth=args.smooth,
        max_frames=args.max_frames,
        progress=not args.no_progress,
    )
    timeline = res.pop("timeline")
    if args.plot:
        plot_timeline(timeline, args.plot)
    if args.json:
        print_json(res)
        return 0
    print(
        f"{args.source}: {res['frames']} frames, {res['rows']} face rows, {res['n_tracks']} track(s), "
        f"{res['fps']:.1f} frames/s (model loading excluded)"
        + (" — interrupted, what was recorded is kept" if res["interrupted"] else "")
    )
    for t, info in res["tracks"].items():
        top = sorted(info["share"].items(), key=lambda kv: -kv[1])[:3]
        print(f"  track {t}: {info['frames']} frames: " + ", ".join(f"{c} {v:.0%}" for c, v in top))
    if res["video"]["face_frames"]:
        top = sorted(res["video"]["share"].items(), key=lambda kv: -kv[1])[:4]
        print("  whole video: " + ", ".join(f"{c} {v:.0%}" for c, v in top))
    if args.out:
        playable = "plays in browsers" if res["codec"] == "avc1" else "MPEG-4 part 2: plays in VLC, not every browser"
        print(f"  annotated video: {args.out} (codec {res['codec']}: {playable})")
    if args.csv:
        print(f"  csv: {args.csv}")
    if args.plot:
        print(f"  emotions over time: {args.plot}")
    return 0
