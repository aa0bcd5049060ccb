"""`ferlab predict`: faces and their emotions in images — printed, as JSON or CSV for small runs, or
streamed to a resumable --out file for large collections (worker processes, or Ray Data)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from ferlab.cli.common import at_least_one, print_json, progress, say
from ferlab.cli.recognition import add_recognizer_args, options_from_args
from ferlab.errors import FerlabError
from ferlab.inference.outputs import utf8_text


def add_parser(sub) -> None:
    pr = sub.add_parser(
        "predict",
        help="find faces in images and name their emotions",
        description="Faces and their emotions in images. Small runs: the faces are printed, or --json prints one "
        "array at the end, --csv writes a row per face at the end. Large collections: --out FILE streams one "
        "record per image as it is done (.jsonl, .csv or .parquet, by suffix; images without faces and "
        "failed files get a status), --resume continues it after an interruption. Exit codes: 0 all done, "
        "1 some files failed (each listed with its reason; the rest were processed), 2 bad arguments or settings "
        "(nothing processed), 3 the output could not be written (what was written is kept; --resume continues).",
    )
    pr.add_argument("paths", nargs="*", help="images, folders (recursive), globs, or - for paths on stdin")
    pr.add_argument(
        "-0",
        "--null",
        action="store_true",
        default=None,
        help="paths on stdin are separated by NUL bytes (find -print0); without it, NUL bytes are detected",
    )
    pr.add_argument("--sample", action="store_true", help="add the photo shipped with ferlab (a first run)")
    pr.add_argument(
        "--from-list", metavar="FILE", help="paths from a .txt (one per line), or a .csv/.parquet `path` column"
    )
    pr.add_argument(
        "--out",
        metavar="FILE",
        help="stream results here as they are made: .jsonl (a line per image), .csv (a row per face, a row per "
        "image without one), .parquet (a folder of part files; needs pyarrow)",
    )
    pr.add_argument("--resume", action="store_true", help="continue --out, skipping inputs it already holds")
    pr.add_argument("--overwrite", action="store_true", help="start --out again when it exists")
    pr.add_argument(
        "--workers",
        type=at_least_one,
        metavar="N",
        help="processes that decode, detect and classify in parallel (default: one per core)",
    )
    pr.add_argument("--no-progress", action="store_true", help="no progress bar on stderr (with --out)")
    pr.add_argument(
        "--engine",
        choices=["native", "ray"],
        default="native",
        help="native: worker processes on this machine; ray: a Ray Data pipeline (pip install 'ferlab[ray]'), "
        "writing Parquet shards to --out",
    )
    pr.add_argument("--ray-address", metavar="ADDR", help="a running Ray cluster (default: start a local one)")
    pr.add_argument(
        "--json", action="store_true", help="print every image's faces as one JSON array at the end (small runs)"
    )
    pr.add_argument("--csv", metavar="FILE", help="write one CSV row per face at the end (small runs; see --out)")
    pr.add_argument(
        "--annotate", metavar="DIR", help="write annotated copies here, mirroring the input folders (PNG kept as PNG)"
    )
    add_recognizer_args(pr)
    pr.set_defaults(func=run)


def sample_photo() -> Path:
    """The photo shipped with ferlab for a first run (public domain; see samples/README.md)."""
    return Path(__file__).parent.parent / "samples" / "grace_hopper.jpg"


def run(args) -> int:
    items = list(args.paths) + ([str(sample_photo())] if args.sample else [])
    if not items and not args.from_list:
        raise FerlabError("predict needs images: paths, folders or globs, --from-list FILE, - for stdin, or --sample")
    if args.engine == "ray":
        return _on_ray(args, items)
    if args.resume and not args.out:
        raise FerlabError("--resume continues an --out file: give --out FILE too")
    _check_outputs(csv_file=args.csv, annotate_dir=args.annotate)
    return _native(args, items)


def _native(args, items: list[str]) -> int:
    import time

    from ferlab.inference.batch import InputCounts, count_inputs, is_folder, iter_inputs, recognize_stream
    from ferlab.inference.outputs import RunInfo, check_out, image_record, open_sink, write_faces_csv
    from ferlab.inference.recognizer import Recognizer

    options = options_from_args(args)
    collection = options.prior == "collection"
    if collection and args.out:
        raise FerlabError(
            "--prior collection labels faces once the whole collection is seen, so it cannot stream to --out: "
            "use --json or --csv, or --prior uniform"
        )
    out = check_out(args.out, resume=args.resume, overwrite=args.overwrite) if args.out else None
    rec = Recognizer(options=options)  # the model and every setting checked before any image is read
    run_info = RunInfo.of(rec)
    if rec.options.detector.name == "yunet":
        rec.detector  # noqa: B018 - a missing weights file is reported once, before the loop
    total = count_inputs(items, from_list=args.from_list)  # also fails early on a folder with no image
    sink, done = open_sink(out, run_info, resume=args.resume) if out else (None, set())
    counts = InputCounts()
    inputs = iter_inputs(items, from_list=args.from_list, counts=counts, null=args.null)
    workers = args.workers or os.cpu_count() or 1
    if total is not None and total - len(done) <= 8:
        workers = 1  # a few images: starting worker processes costs more than it saves
    roots = [Path(a) for a in items if is_folder(a)]
    several = len(items) > 1 or bool(args.from_list) or items == ["-"]  # annotated copies keep whole paths
    annotate = (Path(args.annotate), roots, several) if args.annotate else None
    by_status: dict[str, int] = {"ok": 0, "no_face": 0, "error": 0}
    n_faces, kept = 0, []
    quiet = bool(args.json or out)
    todo = None if total is None else total - len(done)
    bar = progress(total=todo, disabled=args.no_progress or not out or todo == 0)
    t0 = time.perf_counter()
    try:
        stream = recognize_stream(
            options, inputs, workers=workers, skip=done, annotate=annotate, recognizer=rec if workers == 1 else None
        )
        for r in stream:
            by_status[r.status] += 1
            n_faces += len(r.faces)
            if sink is not None:
                sink.write(r)
            if args.json or args.csv or collection:
                kept.append(r)  # --json, --csv and a collection's prior: small runs, written at the end
            if r.status == "error" and out:
                say(f"ferlab: error: {utf8_text(r.error)}", bar)  # the record is in the file; the bar goes on
            elif not quiet and not collection:
                _print_result(r)
            if bar is not None:
                bar.update(1)
                bar.set_postfix(faces=n_faces, errors=by_status["error"], refresh=False)
    finally:
        if bar is not None:
            bar.close()
        if sink is not None:
            sink.close()
    seconds = time.perf_counter() - t0
    if collection:
        kept = _under_collection_prior(rec, kept)
        if not quiet:
            for r in kept:
                _print_result(r)
    if args.json:
        print_json([image_record(r, run_info) for r in kept])  # failed inputs too, with status and error
    elif not out and by_status["ok"] + by_status["no_face"]:
        print(f"(model {rec.name}, test-time augmentation {rec.tta}, {rec.runs_on})")
    if args.csv:
        write_faces_csv(args.csv, [r for r in kept if r.status == "ok"], run_info)
    n = sum(by_status.values())
    if out or args.resume:
        print(
            f"{n} image(s) in {seconds:.1f} s ({n / seconds if seconds else 0:.1f}/s, {workers} worker(s)): "
            f"{by_status['ok']} with faces ({n_faces} faces), {by_status['no_face']} without, "
            f"{by_status['error']} error(s)"
            + (f"; {len(done)} already in {out} (resumed)" if done else "")
            + (f" → {out}" if out else ""),
            file=sys.stderr,
        )
    if counts.summary():
        print(f"ferlab: {counts.summary()}", file=sys.stderr)
    if by_status["error"] and not out and n > 1:
        print(f"ferlab: {by_status['error']} of {n} file(s) failed", file=sys.stderr)
    return 1 if by_status["error"] else 0


def _on_ray(args, items: list[str]) -> int:
    if not args.out:
        raise FerlabError("--engine ray writes Parquet: give --out DIR (or DIR.parquet, or a URI such as s3://b/out)")
    if Path(args.out).suffix.lower() in (".jsonl", ".csv"):
        raise FerlabError(f"{args.out}: --engine ray writes Parquet shards: give a folder or a .parquet name")
    if args.json or args.csv or args.annotate or "-" in items:
        raise FerlabError("--engine ray takes paths, folders, URIs or --from-list, and writes --out only")
    import importlib.util

    if importlib.util.find_spec("ray") is None:  # before pyarrow, which it also needs, is reached
        raise FerlabError("--engine ray needs Ray: pip install 'ferlab[ray]'")
    from ferlab.inference.ray_engine import run_ray

    res = run_ray(
        options_from_args(args),
        items,
        args.out,
        from_list=args.from_list,
        address=args.ray_address,
        resume=args.resume,
        actors=args.workers,
        progress=not args.no_progress,
    )
    print(
        f"ray: {res['images']} image(s) in {res['seconds']:.1f} s ({res['images_per_s'] or 0:.1f}/s, "
        f"{res['actors']} actor(s); Ray start-up {res['startup_s']:.1f} s); {res['shards']} shard(s)"
        + (f", {res['shards_skipped']} already done" if res["shards_skipped"] else "")
        + f" → {res['out']}",
        file=sys.stderr,
    )
    return 0


def _under_collection_prior(rec, results: list) -> list:
    """The faces relabelled under the class prior their whole collection shows (EM)."""
    import numpy as np

    from ferlab.runtime.prior import estimate

    probs = np.array([[f.probs[c] for c in rec.classes] for r in results for f in r.faces]).reshape(
        -1, len(rec.classes)
    )
    prior = estimate(probs, rec.train_prior)
    shown = ", ".join(f"{c} {v:.2f}" for c, v in zip(rec.classes, prior, strict=True))
    print(f"ferlab: class prior estimated from {len(probs)} faces: {shown}", file=sys.stderr)
    return rec.under_prior(results, prior)


def _print_result(r) -> None:
    """An input's line and its faces; a failed input's line says why."""
    source = utf8_text(r.source)
    if r.status == "error":
        reason = utf8_text(r.error)
        print(f"{source}: error: {reason.removeprefix(source + ': ')}")
        return
    print(f"{source}: {len(r.faces)} face(s)")
    for i, f in enumerate(r.faces, 1):
        top = sorted(f.probs.items(), key=lambda kv: -kv[1])[:3]
        print(
            f"  #{i} {f.label:<8} {f.confidence:.2f}  box {list(f.box)}  "
            + "  ".join(f"{c} {v:.2f}" for c, v in top[1:])
        )


def _check_outputs(*, csv_file: str | None = None, annotate_dir: str | None = None) -> None:
    """Output paths that cannot work are refused before any image is read."""
    if csv_file:
        c = Path(csv_file)
        if c.is_dir():
            raise FerlabError(f"{c}: --csv needs a file name, and this is a folder (e.g. {c / 'faces.csv'})")
        if not c.parent.is_dir():
            raise FerlabError(f"{c}: --csv: the folder {c.parent} does not exist")
    if annotate_dir and Path(annotate_dir).exists() and not Path(annotate_dir).is_dir():
        raise FerlabError(f"{annotate_dir}: --annotate needs a folder, and this is an existing file")
