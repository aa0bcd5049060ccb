"""The `ferlab` command. Each subcommand is a thin call into the modules; errors meant for the
user (FerlabError) print one line and exit with code 2, never a traceback.

argparse rather than Typer: stdlib, starts fast, and gives full control of the exit codes
and one-line errors this CLI promises.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
from pathlib import Path

from ferlab.cli_options import add_recognizer_args, bare_tta, whole
from ferlab.errors import FerlabError
from ferlab.tta import TTA_MODES

DEFAULT_DATA = os.environ.get("FERLAB_DATA", "../shared/data/fer2013-no-private.zip")


def _print_json(obj) -> None:
    print(json.dumps(obj, indent=2))


# ----------------------------------------------------------------------------- data


def cmd_data_summary(args) -> int:
    from ferlab.data import load_fer2013
    from ferlab.data.summary import format_summary, summarize

    s = summarize(load_fer2013(args.path, strict=args.strict, labels=args.labels, votes=args.votes))
    if args.plot:
        from ferlab.figures import plot_class_distribution
        from ferlab.io import atomic_write

        atomic_write(
            args.plot,
            lambda tmp: plot_class_distribution(s["splits"], tmp, fmt=Path(args.plot).suffix.lstrip(".") or "png"),
        )
    if args.json:
        _print_json(s)
    else:
        print(format_summary(s))
        if args.plot:
            print(f"  class distribution figure: {args.plot}")
    return 0


# ----------------------------------------------------------------------------- models


def cmd_models(args) -> int:
    from ferlab.catalogue import catalogue

    cat = catalogue()
    archs, bundled = cat["architectures"], cat["bundled"]
    if args.json:
        _print_json(cat)
        return 0
    print("Architectures:" if archs is not None else "Architectures: (install 'ferlab[train]' to list and train them)")
    for a in archs or []:
        count = f"{a['parameters']:>12,} params" if a["parameters"] is not None else f"{'—':>12} params"
        print(f"  {a['name']:<16} {count}  {a['description']}")
        if a["parameters_note"]:
            print(f"  {'':<16} {'':>19} parameters: {a['parameters_note']}")
    print("Bundled models:")
    for b in bundled:
        acc = (
            f"PublicTest acc {b['val_accuracy']:.4f} ({b['evaluated_with']} labels, as shipped: TTA {b['tta']})"
            if b["val_accuracy"]
            else ""
        )
        print(
            f"  {b['name']:<22} {b['architecture']:<10} learned {b['labels_learned']:<17} {acc}"
            + ("  (default)" if b["default"] else "")
        )
    if not bundled:
        print("  (none)")
    elif any(b["default"] for b in bundled):
        from ferlab.card import DEFAULT_MODEL, DEFAULT_REASON

        print(f"Why {DEFAULT_MODEL} is the default: {DEFAULT_REASON}")
    return 0


def cmd_info(args) -> int:
    from ferlab.card import read_card
    from ferlab.catalogue import describe_card

    card = read_card(args.model)
    if args.json:
        _print_json(card)
        return 0
    print(describe_card(card))
    return 0


# ----------------------------------------------------------------------------- train


def _parse_sets(items: list[str]) -> dict:
    import yaml

    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise FerlabError(f"--set {item!r}: expected KEY=VALUE, e.g. train.mixup=0.2")
        out[key] = yaml.safe_load(value)
    return out


def cmd_train(args) -> int:
    import shutil

    from ferlab.run_dir import RunDir
    from ferlab.training.config import UNSET, load_config, overrides_from_flags
    from ferlab.training.run import train

    command = shlex.join(["ferlab", *args.argv])
    if args.resume:
        run = RunDir(args.resume)
        cfg = run.config()
        resume = True
    else:
        cfg = load_config(
            args.config,
            {
                **overrides_from_flags(args),
                "data.balanced": False if args.no_balanced else UNSET,
                "data.class_weighted_loss": True if args.class_weighted_loss else UNSET,
                **_parse_sets(args.set),
            },
        )
        run = RunDir(args.out) if args.out else RunDir.new(cfg["name"], args.runs_root)
        if run.resumable():
            raise FerlabError(f"{run}: already holds a run; use --resume {run} or another --out")
        resume = False
    existed = run.path.exists()
    try:
        train(
            cfg,
            run,
            resume=resume,
            devices=args.devices,
            strategy=args.strategy,
            accelerator=args.accelerator,
            progress=not args.no_progress,
            command=command,
        )
    except BaseException:
        # A run that fails before its first checkpoint leaves nothing behind; a later failure
        # leaves a resumable run, and says so.
        if not resume and _is_global_zero():
            if run.resumable():
                print(f"ferlab: run {run} is incomplete; continue it with --resume {run}", file=sys.stderr)
            elif not existed:
                shutil.rmtree(run.path, ignore_errors=True)
        raise
    if _is_global_zero():
        summary = run.summary()
        if summary is None:
            raise FerlabError(f"{run}: training stopped before finishing an epoch (no summary.json)")
        best = summary.get("best") or {}
        print(
            f"run {run}: {summary['epochs_completed']}/{summary['epochs_planned']} epochs, best val acc "
            f"{best.get('val_acc', float('nan')):.4f} at epoch {best.get('epoch')}, "
            f"{summary['train_img_per_s_median']} train img/s (median)"
        )
    return 0


def _is_global_zero() -> bool:
    return os.environ.get("RANK", os.environ.get("LOCAL_RANK", "0")) == "0"


# ----------------------------------------------------------------------------- evaluate / compare


def cmd_evaluate(args) -> int:
    from ferlab.cli_options import options_from_args
    from ferlab.evaluation.evaluate import evaluate_ref
    from ferlab.io import atomic_write, atomic_write_json

    res = evaluate_ref(
        args.model,
        args.data,
        args.split,
        options=options_from_args(args),
        detect=args.detect,
        progress=not args.json,
        labels=args.labels,
        votes=args.votes,
    )
    if args.plot:
        from ferlab.figures import plot_confusion

        tta = f", TTA {res['tta']}" if res["tta"] != "none" else ""
        where = args.split if res["split"] != "folder" else Path(args.data).name
        title = f"{res['model']} on {where} (n={res['n']}, acc {res['accuracy']:.3f}{tta})"
        atomic_write(
            args.plot,
            lambda tmp: plot_confusion(res["confusion"], tmp, title, fmt=Path(args.plot).suffix.lstrip(".") or "png"),
        )
    if args.out:
        atomic_write_json(args.out, res)
    if res.get("warning"):
        print(f"ferlab: warning: {res['warning']}", file=sys.stderr)
    if args.json:
        _print_json(res)
        return 0
    if res["split"] == "folder":
        print(
            f"{res['model']} on {args.data} ({res['mode']}): {res['images']} images, {res['n']} classified, "
            f"{res['no_face']} without a face found, {res['unreadable']} unreadable; skipped class folders: "
            + (", ".join(f"{k} ({v})" for k, v in res["skipped_classes"].items()) or "none")
        )
        print(
            f"  accuracy {res['accuracy']:.4f} (over all readable images {res['accuracy_all_images']:.4f}), "
            f"balanced accuracy {res['balanced_accuracy']:.4f}, macro F1 {res['macro_f1']:.4f}, TTA {res['tta']}"
        )
        for c, v in res["per_class"].items():
            if res["support"][c]:
                print(f"  {c:<9} {v:.4f}  (n={res['support'][c]})")
        return 0
    print(
        f"{res['model']} on {args.split} of {args.data} ({res['labels']} labels): n={res['n']}, "
        f"accuracy {res['accuracy']:.4f}, macro F1 {res['macro_f1']:.4f}, TTA {res['tta']}, "
        f"{res['backend']} {res['precision']}"
    )
    if res["train_duplicates"] is not None:
        print(
            f"  without the {res['train_duplicates']} images pixel-identical to a training image: "
            f"n={res['n_without_train_duplicates']}, accuracy {res['accuracy_without_train_duplicates']:.4f}"
        )
    if res["label_counts"]:
        lc = res["label_counts"]
        print(
            f"  FER+ labels: {lc['kept']} of {lc['images']} images kept; skipped {lc['no_usable_label']} with no "
            f"usable FER+ label and {lc['not_in_ferplus']} not in FER+"
        )
    for c, v in res["per_class"].items():
        print(f"  {c:<9} {v:.4f}  (n={res['support'][c]})")
    return 0


def cmd_compare(args) -> int:
    from ferlab.evaluation.compare import compare

    tta = None if args.tta == "card" else args.tta
    out = compare(args.inputs, Path(args.out), data=args.data, split=args.split, tta=tta)
    print(out.read_text())
    return 0


def cmd_predict(args) -> int:
    import time

    from ferlab.cli_options import options_from_args
    from ferlab.inference.batch import InputCounts, count_inputs, iter_inputs, recognize_stream
    from ferlab.inference.outputs import RunInfo, check_out, image_record, open_sink, write_faces_csv
    from ferlab.inference.recognizer import Recognizer

    items = list(args.paths) + ([str(sample_photo())] if args.sample else [])
    if not items and not args.from_list:
        raise FerlabError("predict needs images: paths, folders or globs, --from-list FILE, - for stdin, or --sample")
    if args.engine == "ray":
        return _predict_on_ray(args, items)
    if args.resume and not args.out:
        raise FerlabError("--resume continues an --out file: give --out FILE too")
    _check_outputs(csv_file=args.csv, annotate_dir=args.annotate)
    out = check_out(args.out, resume=args.resume, overwrite=args.overwrite) if args.out else None
    options = options_from_args(args)
    rec = Recognizer(options=options)  # the model and every setting checked before any image is read
    run = RunInfo.of(rec)
    if rec.options.detector.name == "yunet":
        rec.detector  # noqa: B018 - a missing weights file is reported once, before the loop
    total = count_inputs(items, from_list=args.from_list)  # also fails early on a folder with no image
    sink, done = open_sink(out, run, resume=args.resume) if out else (None, set())
    counts = InputCounts()
    inputs = iter_inputs(items, from_list=args.from_list, counts=counts)
    workers = args.workers or os.cpu_count() or 1
    if total is not None and total - len(done) <= 8:
        workers = 1  # a few images: starting worker processes costs more than it saves
    roots = [Path(a) for a in items if Path(a).is_dir()]
    annotate = (Path(args.annotate), roots) if args.annotate else None
    by_status: dict[str, int] = {"ok": 0, "no_face": 0, "error": 0}
    n_faces, kept = 0, []
    quiet = bool(args.json or out)
    todo = None if total is None else total - len(done)
    bar = _progress(total=todo, disabled=args.no_progress or not out or todo == 0)
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
            if args.json or args.csv:
                kept.append(r)  # --json and --csv are for small runs: written at the end
            if r.status == "error":
                _say(f"ferlab: error: {r.error}", bar)
            elif not quiet:
                _print_faces(r)
            if bar is not None:
                bar.update(1)
                bar.set_postfix(faces=n_faces, errors=by_status["error"], refresh=False)
    finally:
        if bar is not None:
            bar.close()
        if sink is not None:
            sink.close()
    seconds = time.perf_counter() - t0
    if args.json:
        _print_json([image_record(r, run) for r in kept if r.status != "error"])
    elif not out and by_status["ok"] + by_status["no_face"]:
        print(f"(model {rec.name}, test-time augmentation {rec.tta}, {rec.runs_on})")
    if args.csv:
        write_faces_csv(args.csv, [r for r in kept if r.status == "ok"], run)
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
    if by_status["error"] and not out:
        print(f"ferlab: {by_status['error']} of {n} file(s) failed", file=sys.stderr)
    return 1 if by_status["error"] else 0


def _predict_on_ray(args, items: list[str]) -> int:
    from ferlab.cli_options import options_from_args

    if not args.out:
        raise FerlabError("--engine ray writes Parquet: give --out DIR (or DIR.parquet, or a URI such as s3://b/out)")
    if Path(args.out).suffix.lower() in (".jsonl", ".csv"):
        raise FerlabError(f"{args.out}: --engine ray writes Parquet shards: give a folder or a .parquet name")
    if args.json or args.csv or args.annotate or "-" in items:
        raise FerlabError("--engine ray takes paths, folders, URIs or --from-list, and writes --out only")
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


def sample_photo() -> Path:
    """The photo shipped with ferlab for a first run (public domain; see samples/README.md)."""
    return Path(__file__).with_name("samples") / "grace_hopper.jpg"


def _progress(*, total: int | None, disabled: bool):
    if disabled:
        return None
    from tqdm import tqdm

    return tqdm(total=total, unit="img", file=sys.stderr, dynamic_ncols=True, smoothing=0.1)


def _say(line: str, bar) -> None:
    """A line on stderr that does not tear the progress bar."""
    if bar is None:
        print(line, file=sys.stderr)
    else:
        bar.write(line, file=sys.stderr)


def _print_faces(r) -> None:
    print(f"{r.source}: {len(r.faces)} face(s)")
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


def _recognizer(args, **changes):
    from ferlab.cli_options import options_from_args
    from ferlab.inference.recognizer import Recognizer

    return Recognizer(options=options_from_args(args).replace(**changes))


def cmd_video(args) -> int:
    from ferlab.inference.video import plot_timeline, process_video

    if args.plot:
        import importlib.util

        if importlib.util.find_spec("matplotlib") is None:  # before the video, not after it
            raise FerlabError("--plot needs matplotlib: pip install 'ferlab[train]' (or matplotlib itself)")
    rec = _recognizer(args)
    res = process_video(
        args.source,
        rec,
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
        _print_json(res)
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


def cmd_explain(args) -> int:
    import numpy as np

    from ferlab.checkpoint import load_model
    from ferlab.inference import explain

    if args.data:
        from ferlab.data import load_fer2013

        model, card = load_model(args.model)
        sp = load_fer2013(args.data).split(args.split)
        maps = explain.class_saliency(model, card, sp.images, sp.labels, per_class=args.per_class)
        means = {
            c: sp.images[sp.labels == i].float().mean(0).numpy() for i, c in enumerate(card["classes"]) if c in maps
        }
        explain.plot_class_saliency(
            maps, means, args.out, f"{card['name']}: mean Grad-CAM of the true class, {args.split} split"
        )
        print(f"per-class mean saliency over {args.split} ({args.per_class} images per class at most): {args.out}")
        return 0
    if not args.image:
        raise FerlabError("explain needs an IMAGE, or --data PATH for per-class mean saliency")
    from ferlab.inference.faces import to_face_array

    rec = _recognizer(args)
    rgb, found = rec.detect(args.image)
    if not found:
        if not args.whole:
            raise FerlabError(f"{args.image}: no face found (use --whole to explain the image as one face)")
        faces = to_face_array(rgb)[None]
    else:
        faces = np.stack([f.crop for f in found])
    cams, probs = explain.grad_cam(rec.model, rec.card, faces)
    explain.plot_explanations(faces, cams, probs, rec.classes, args.out, f"{Path(args.image).name} — {rec.name}")
    print(f"{args.image}: {len(faces)} face(s) explained: {args.out}")
    return 0


def cmd_export(args) -> int:
    from ferlab.checkpoint import load_model
    from ferlab.runtime.onnx import export_onnx

    model, card = load_model(args.model)
    out = export_onnx(model, card, args.onnx)
    print(f"exported {card['name']} to {out} (card in the model metadata)")
    return 0


def cmd_sweep(args) -> int:
    from ferlab.training.config import overrides_from_flags
    from ferlab.training.sweep import lr_sweep

    fig = lr_sweep(
        args.config,
        args.lr,
        Path(args.out),
        overrides=overrides_from_flags(args),
        progress=not args.no_progress,
    )
    print(f"learning-rate sweep: {len(args.lr)} run(s) under {args.out}; loss curves: {fig}")
    return 0


def cmd_serve(args) -> int:
    import signal

    import uvicorn

    from ferlab.serve.app import create_app
    from ferlab.serve.guards import LOCAL_HOSTS

    hosts = list(args.allowed_host or LOCAL_HOSTS)
    if args.host not in ("0.0.0.0", "::") and args.host not in hosts and not args.allowed_host:
        hosts.append(args.host)
    if args.host not in LOCAL_HOSTS:
        print(
            f"ferlab: serving on {args.host}: reachable from other machines; answering Host names "
            f"{', '.join(hosts)} (--allowed-host)",
            file=sys.stderr,
        )
    from ferlab.cli_options import options_from_args

    options = options_from_args(args)
    _port_free(args.host, args.port)
    app = create_app(
        args.model or [None],
        options=options,
        max_upload_mb=args.max_upload_mb,
        timeout_s=args.timeout,
        max_concurrency=args.concurrency,
        max_queue=args.queue,
        micro_batch=not args.no_micro_batch,
        max_faces=options.max_faces or 32,
        max_pixels=int(args.max_megapixels * 1_000_000),
        allowed_hosts=hosts,
        cors_origins=args.cors_origin,
        body_timeout_s=args.body_timeout,
    )

    class Server(uvicorn.Server):
        """uvicorn re-raises SIGTERM once it has shut down (exit 143); a drained stop exits 0, and
        a drain cut short by --graceful-timeout exits 1."""

        drained = True

        def handle_exit(self, sig, frame) -> None:
            super().handle_exit(sig, frame)
            if sig == signal.SIGTERM:
                self._captured_signals.remove(sig)

        async def _wait_tasks_to_complete(self) -> None:
            self.drained = False
            await super()._wait_tasks_to_complete()
            self.drained = True

        async def startup(self, sockets=None) -> None:
            await super().startup(sockets)
            if self.started:
                host = f"[{args.host}]" if ":" in args.host else args.host
                names = ", ".join(app.state.recognizers)
                print(
                    f"ferlab: serving {names or 'the bundled model'} on http://{host}:{args.port}/ "
                    f"(page /, API POST /v1/predict, schema /openapi.json); Ctrl-C stops",
                    file=sys.stderr,
                    flush=True,
                )

    config = uvicorn.Config(
        app,
        host=args.host,
        port=args.port,
        log_level="info" if args.access_log else "warning",
        access_log=args.access_log,
        timeout_graceful_shutdown=args.graceful_timeout,
    )
    server = Server(config)
    server.run()
    if not server.drained:
        print(
            f"ferlab: requests still running after --graceful-timeout {args.graceful_timeout:g} s were cut off",
            file=sys.stderr,
        )
        return 1
    return 0


def _port_free(host: str, port: int) -> None:
    """A port that cannot be bound is one line before any model loads (uvicorn would log it in its
    own format after the models loaded)."""
    import socket

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError as e:
            why = "in use (another server?)" if e.errno in (98, 48) else e.strerror
            raise FerlabError(f"{host}:{port}: cannot listen there: {why}; choose another with --port") from None


def _port(value: str) -> int:
    try:
        n = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a port number, got {value!r}") from None
    if not 1 <= n <= 65535:
        raise argparse.ArgumentTypeError(f"a TCP port is 1-65535, got {n}")
    return n


def cmd_reproduce(args) -> int:
    from ferlab.reproduce import reproduce

    report = reproduce(
        args.data,
        args.budget,
        Path(args.out or f"runs/reproduce-{args.budget}"),
        backbone=args.backbone,
        progress=not args.no_progress,
        overrides=_parse_sets(args.set) or None,
        limit_eval=args.limit_eval,
    )
    print(f"report: {report}")
    return 0


def cmd_ensemble(args) -> int:
    from ferlab.checkpoint import save_checkpoint
    from ferlab.ensembling import build_ensemble

    model, card = build_ensemble(args.models, data=args.data, fit=args.fit_weights)
    if args.name:
        card["name"] = args.name
    card["command"] = shlex.join(["ferlab", *args.argv])
    out = save_checkpoint(model, card, args.out)
    w = ", ".join(
        f"{m['name']} {x:.3f}"
        for m, x in zip(card["arch_config"]["members"], card["arch_config"]["weights"], strict=True)
    )
    print(f"ensemble {card['name']} ({w}): {out}")
    return 0


def cmd_curves(args) -> int:
    from ferlab.figures import plot_loss_curves
    from ferlab.io import atomic_write
    from ferlab.training.callbacks import read_run_curves

    runs = read_run_curves(args.runs)
    atomic_write(
        args.out, lambda tmp: plot_loss_curves(runs, tmp, args.title, fmt=Path(args.out).suffix.lstrip(".") or "png")
    )
    print(f"loss curves of {len(runs)} run(s): {args.out}")
    return 0


def cmd_bundle(args) -> int:
    from ferlab.paths import user_models_dir
    from ferlab.weights_bundle import bundle

    out_dir = Path(args.out) if args.out else user_models_dir()
    out_dir.mkdir(parents=True, exist_ok=True)
    out = bundle(
        args.source,
        args.name,
        data=args.data,
        out_dir=out_dir,
        tta_default=args.tta_default,
        backend=args.backend_default,
        int8=args.int8,
        calibrate=not args.no_calibrate,
        labels=args.labels,
    )
    print(f"bundled {args.source} as {args.name}: {out}")
    if not args.out:
        print(f"  use it by name: ferlab predict PHOTO --model {args.name} (stored in {out_dir}; see $FERLAB_MODELS)")
    return 0


# ----------------------------------------------------------------------------- parser


HELP_MODEL = (
    "bundled model name (see `ferlab models`) or a path: checkpoint, checkpoint folder or run dir "
    "(default: the bundled default)"
)
HELP_DATA = (
    "FER-2013: Kaggle folder or .zip, fer2013.csv, or the FERPlus layout (FER2013Train|Valid|Test/ with label.csv) "
    "(default: $FERLAB_DATA, else ../shared/data/fer2013-no-private.zip)"
)


_at_least_one = whole(1)


LABELS_ARGS = {
    "choices": ["original", "ferplus-majority", "ferplus-soft"],
    "default": None,
    "help": "labels on a FER-2013 source: original (one annotator), ferplus-majority (FER+ votes, FERPlus's majority "
    "protocol), ferplus-soft (train on the vote distribution); default: original, or ferplus-majority for a FERPlus "
    "layout (FER2013Train|Valid|Test/ with label.csv). The FER+ votes ship with ferlab",
}
VOTES_HELP = "a FER+ vote file (fer2013new.csv) to use instead of the copy ferlab ships"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="ferlab", description="Facial emotion recognition on FER-2013.")
    p.add_argument("--version", action="version", version=f"ferlab {__import__('ferlab').__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    d = sub.add_parser("data", help="inspect FER-2013 copies").add_subparsers(dest="data_command", required=True)
    s = d.add_parser("summary", help="counts per split and class, duplicates, defects")
    s.add_argument("path", help="Kaggle folder or .zip, fer2013.csv, or a FERPlus layout (folder or .zip)")
    s.add_argument("--json", action="store_true", help="print the result as JSON")
    s.add_argument("--plot", metavar="FILE", help="write the class-distribution figure (study Figure 1)")
    s.add_argument("--strict", action="store_true", help="unreadable images are errors, not skipped")
    s.add_argument("--labels", **LABELS_ARGS)
    s.add_argument("--votes", metavar="CSV", help=VOTES_HELP)
    s.set_defaults(func=cmd_data_summary)

    m = sub.add_parser("models", help="registered architectures and bundled models")
    m.add_argument("--json", action="store_true", help="print the result as JSON")
    m.set_defaults(func=cmd_models)

    i = sub.add_parser("info", help="show a model's card (default: the bundled default model)")
    i.add_argument(
        "--model",
        default=None,
        help=HELP_MODEL,
    )
    i.add_argument("--json", action="store_true", help="print the result as JSON")
    i.set_defaults(func=cmd_info)

    t = sub.add_parser("train", help="train a model from a config")
    t.add_argument("--config", help="YAML under configs/")
    t.add_argument(
        "--data",
        help=HELP_DATA + "; overrides the config's data.path",
    )
    t.add_argument("--epochs", type=_at_least_one, help="epochs to train (at least 1); overrides train.epochs")
    t.add_argument("--lr", type=float, help="learning rate; overrides train.lr")
    t.add_argument("--batch-size", type=int, help="batch size; overrides train.batch_size")
    t.add_argument("--seed", type=int, help="random seed; overrides train.seed")
    t.add_argument("--max-minutes", type=float, help="stop after this long, wherever the schedule is")
    t.add_argument("--budget-minutes", type=float, help="fit the epoch count (epochs = the cap) to this wall time")
    t.add_argument("--precision", help="Lightning precision, e.g. bf16-mixed on a GPU")
    t.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="any config value, e.g. train.mixup=0.2"
    )
    t.add_argument("--threads", type=int, help="torch intra-op threads")
    t.add_argument("--limit-train", type=int, help="use a seeded, class-stratified subset of N training images")
    t.add_argument("--limit-val", type=int, help="use a seeded, class-stratified subset of N validation images")
    t.add_argument(
        "--on-device",
        action="store_const",
        const=True,
        help="keep the training set on the training device and draw and augment batches there (GPU: no host work "
        "per step)",
    )
    t.add_argument("--labels", **LABELS_ARGS)
    t.add_argument("--no-balanced", action="store_true", help="turn off inverse-frequency resampling")
    t.add_argument(
        "--class-weighted-loss",
        action="store_true",
        help="weight the loss by inverse class frequency (instead of resampling)",
    )
    t.add_argument("--name", help="run name (default: the config file's name)")
    t.add_argument("--out", help="run directory (default: runs/NAME-TIMESTAMP)")
    t.add_argument("--runs-root", default="runs", help="folder for new run directories")
    t.add_argument("--resume", metavar="RUN_DIR", help="continue a killed run")
    t.add_argument("--devices", default="1", help="Lightning devices (e.g. 2)")
    t.add_argument("--strategy", default="auto", help="Lightning strategy (e.g. ddp)")
    t.add_argument("--accelerator", default="auto", help="Lightning accelerator: auto, cpu, gpu")
    t.add_argument("--no-progress", action="store_true", help="no progress bars (logs, CI)")
    t.set_defaults(func=cmd_train)

    e = sub.add_parser("evaluate", help="accuracy, per-class accuracy, macro F1, confusion")
    e.add_argument(
        "--data",
        default=DEFAULT_DATA,
        help=HELP_DATA + "; or any labelled image folder <root>/<class>/<image> (class aliases understood)",
    )
    e.add_argument(
        "--split",
        default="val",
        choices=["train", "val", "test"],
        help="val = PublicTest, test = PrivateTest, train = Training",
    )
    add_recognizer_args(e)
    e.add_argument(
        "--detect",
        action="store_true",
        help="labelled image folder: run the whole pipeline (detect, align, classify the largest face) "
        "instead of taking each image as a face crop",
    )
    e.add_argument("--json", action="store_true", help="print the result as JSON")
    e.add_argument("--plot", metavar="FILE", help="write the confusion figure (study Figure 6)")
    e.add_argument("--out", metavar="FILE", help="also write the JSON here")
    e.add_argument("--labels", **LABELS_ARGS)
    e.add_argument("--votes", metavar="CSV", help=VOTES_HELP)
    e.set_defaults(func=cmd_evaluate)

    c = sub.add_parser("compare", help="per-class accuracy of several models side by side")
    c.add_argument("inputs", nargs="+", help="evaluation JSON files, run dirs or checkpoints")
    c.add_argument("--out", required=True, help="folder for the figure and the Markdown table")
    c.add_argument("--data", default=DEFAULT_DATA, help="data for inputs that need evaluating")
    c.add_argument("--split", default="val", help="split to evaluate inputs that need evaluating")
    c.add_argument(
        "--tta",
        nargs="?",
        const="flip",
        default="card",
        choices=[*TTA_MODES, "card"],
        metavar="MODE",
        help="test-time augmentation for inputs that need evaluating: card (default: each model as it ships), "
        "none, flip, zoomflip, multi",
    )
    c.set_defaults(func=cmd_compare)

    pr = sub.add_parser(
        "predict",
        help="find faces in images and name their emotions",
        description="Faces and their emotions in images. Small runs: the faces are printed, or --json prints one "
        "array at the end, --csv writes a row per face at the end. Large collections: --out FILE streams one "
        "record per image as it is done (.jsonl, .csv or .parquet, by suffix; images without faces and "
        "failed files get a status), --resume continues it after an interruption. Exit codes: 0 all done, "
        "1 some files failed (the rest were processed), 2 bad arguments or settings (nothing processed).",
    )
    pr.add_argument("paths", nargs="*", help="images, folders (recursive), globs, or - for paths on stdin")
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
        type=_at_least_one,
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
    pr.set_defaults(func=cmd_predict)

    v = sub.add_parser("video", help="emotions over a video file or webcam")
    v.add_argument("source", help="video file, or a webcam index such as 0")
    v.add_argument("--out", help="annotated video (.mp4)")
    v.add_argument("--csv", help="one row per frame and face")
    v.add_argument("--every", type=_at_least_one, default=1, help="detect and classify every N-th frame")
    v.add_argument(
        "--smooth", type=_at_least_one, default=1, help="average each track's probabilities over K detections"
    )
    v.add_argument("--max-frames", type=_at_least_one, help="stop after this many frames")
    v.add_argument("--json", action="store_true", help="print the summary (per track and whole video) as JSON")
    v.add_argument("--plot", metavar="FILE", help="write a figure of the emotions over time, a row per track")
    # Real time comes first: one pass per face and frames searched at 320 px, whatever photos use.
    add_recognizer_args(v, mode="video")
    v.add_argument("--detect-side", dest="search_side", type=int, help=argparse.SUPPRESS)  # the old name
    v.add_argument("--no-progress", action="store_true", help="no progress bars (logs, CI)")
    v.set_defaults(func=cmd_video)

    ex = sub.add_parser("explain", help="Grad-CAM per face, or per-class mean saliency over a data split")
    ex.add_argument("image", nargs="?", help="photo whose faces to explain")
    ex.add_argument("--out", required=True, help="figure file (.png)")
    ex.add_argument("--whole", action="store_true", help="no face found: explain the whole image as a face")
    ex.add_argument("--data", help="FER-2013 source: draw per-class mean saliency instead")
    ex.add_argument("--split", default="val", help="split for --data")
    ex.add_argument("--per-class", type=int, default=200, help="images per class averaged, at most")
    add_recognizer_args(ex)
    ex.set_defaults(func=cmd_explain)

    xp = sub.add_parser("export", help="export a model to ONNX, its card as metadata")
    xp.add_argument(
        "--model",
        default=None,
        help=HELP_MODEL,
    )
    xp.add_argument("--onnx", required=True, metavar="OUT.onnx", help="ONNX file to write")
    xp.set_defaults(func=cmd_export)

    sw = sub.add_parser("sweep", help="one run per learning rate, loss curves side by side (study Figure 4)")
    sw.add_argument("--config", required=True, help="YAML config to sweep")
    sw.add_argument("--lr", type=float, nargs="+", required=True, help="learning rates, one run each")
    sw.add_argument("--out", default="runs/sweep", help="folder for the runs and the figure")
    sw.add_argument(
        "--data",
        help=HELP_DATA,
    )
    sw.add_argument("--epochs", type=_at_least_one, help="epochs per run")
    sw.add_argument("--batch-size", type=int, help="batch size")
    sw.add_argument("--seed", type=int, help="random seed")
    sw.add_argument("--limit-train", type=int, help="use a seeded, class-stratified subset of N training images")
    sw.add_argument("--limit-val", type=int, help="use a seeded, class-stratified subset of N validation images")
    sw.add_argument("--no-progress", action="store_true", help="no progress bars (logs, CI)")
    sw.set_defaults(func=cmd_sweep)

    sv = sub.add_parser("serve", help="REST API and web page (photos and webcam)")
    sv.add_argument("--host", default="127.0.0.1", help="address to bind (default: loopback only)")
    sv.add_argument("--port", type=_port, default=8000, help="TCP port (default 8000)")
    sv.add_argument("--model", action="append", help="load this model (repeatable); default: the bundled one")
    sv.add_argument("--access-log", action="store_true", help="log every request on stderr")
    add_recognizer_args(sv, model=False)
    sv.add_argument("--max-upload-mb", type=float, default=10.0, help="largest upload accepted, MB (more: 413)")
    sv.add_argument("--timeout", type=float, default=15.0, help="per-request deadline, seconds")
    sv.add_argument("--concurrency", type=int, default=4, help="requests processed at once")
    sv.add_argument("--queue", type=int, default=64, help="requests allowed to wait; more get 503")
    sv.add_argument(
        "--no-micro-batch", action="store_true", help="classify each request alone instead of batching concurrent ones"
    )
    sv.add_argument(
        "--max-megapixels",
        type=float,
        default=24.0,
        help="largest PNG/TIFF/BMP/WEBP/GIF upload in megapixels (decoded whole; JPEGs are reduced while decoding)",
    )
    sv.add_argument(
        "--allowed-host",
        action="append",
        metavar="NAME",
        help="a Host header name to answer (repeatable; '*': any); default: 127.0.0.1, localhost, ::1",
    )
    sv.add_argument(
        "--cors-origin",
        action="append",
        metavar="ORIGIN",
        help="a browser origin allowed to call the API cross-site, e.g. https://app.example (repeatable; default none)",
    )
    sv.add_argument(
        "--body-timeout",
        type=float,
        default=30.0,
        help="longest wait, seconds, for the next piece of an upload before answering 408",
    )
    sv.add_argument(
        "--graceful-timeout",
        type=float,
        default=10.0,
        help="on SIGTERM/Ctrl-C, seconds to let running requests finish before cutting them off",
    )
    sv.set_defaults(func=cmd_serve)

    rp = sub.add_parser("reproduce", help="run the study's experiments and write the report with its figures")
    rp.add_argument(
        "--data",
        default=DEFAULT_DATA,
        help=HELP_DATA,
    )
    rp.add_argument(
        "--budget",
        default="smoke",
        choices=["smoke", "cpu", "full"],
        help="smoke: minutes, tiny subsets; cpu: hours on 2 cores; full: the study's schedule, GPU",
    )
    rp.add_argument("--out", help="output folder (default: runs/reproduce-BUDGET)")
    rp.add_argument("--backbone", help="pretrained backbone: hub name or local folder (default: the configs')")
    rp.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a config value for every experiment, after the budget's (e.g. train.budget_minutes=1)",
    )
    rp.add_argument("--limit-eval", type=int, help="evaluate on a class-stratified subset of N images")
    rp.add_argument("--no-progress", action="store_true", help="no progress bars (logs, CI)")
    rp.set_defaults(func=cmd_reproduce)

    en = sub.add_parser("ensemble", help="soft-voting ensemble of trained models, saved as one checkpoint")
    en.add_argument("models", nargs="+", help="checkpoints, run dirs or bundled names")
    en.add_argument("--out", required=True, help="checkpoint folder to write")
    en.add_argument("--fit-weights", action="store_true", help="fit weights on --data's val split")
    en.add_argument(
        "--data",
        default=DEFAULT_DATA,
        help=HELP_DATA + " (for --fit-weights)",
    )
    en.add_argument("--name", help="name in the ensemble's card")
    en.set_defaults(func=cmd_ensemble)

    lc = sub.add_parser("curves", help="train/val loss curves of runs side by side (study Figures 3-5)")
    lc.add_argument("runs", nargs="+", help="run directories")
    lc.add_argument("--out", required=True, help="figure file (.png)")
    lc.add_argument("--title", help="figure title")
    lc.set_defaults(func=cmd_curves)

    b = sub.add_parser("bundle", help="evaluate a trained checkpoint and store it as a named bundled model")
    b.add_argument("source", help="run dir or checkpoint")
    b.add_argument("--name", required=True, help="name to bundle under")
    b.add_argument("--data", default=DEFAULT_DATA, help="data whose val split the card reports")
    b.add_argument(
        "--out",
        help="folder (default: your models folder, $FERLAB_MODELS or ~/.local/share/ferlab/models, where names "
        "are found; ferlab's own bundled models are written with --out src/ferlab/weights)",
    )
    b.add_argument(
        "--tta-default", default="none", choices=TTA_MODES, help="test-time augmentation the model ships with"
    )
    b.add_argument(
        "--backend-default", default="torch", choices=["torch", "onnxruntime"], help="engine the model ships with"
    )
    b.add_argument("--int8", action="store_true", help="also ship an int8 onnxruntime model, and use it by default")
    b.add_argument("--no-calibrate", action="store_true", help="ship without a fitted temperature")
    b.add_argument("--labels", **LABELS_ARGS)
    b.set_defaults(func=cmd_bundle)
    return p


# a module of an optional extra → (the extra, what it brings); see pyproject.toml
EXTRAS = {
    **dict.fromkeys(
        ("torch", "lightning", "torchmetrics", "transformers", "matplotlib", "onnx"),
        ("train", "the training stack"),
    ),
    **dict.fromkeys(("fastapi", "uvicorn", "starlette", "multipart", "python_multipart"), ("serve", "the server")),
    "ray": ("ray", "the Ray Data engine"),
    "pyarrow": ("parquet", "Parquet support"),
}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser().parse_args(bare_tta(argv))
    args.argv = argv
    if getattr(args, "devices", None) and str(args.devices).isdigit():
        args.devices = int(args.devices)
    try:
        return args.func(args)
    except FerlabError as e:
        print(f"ferlab: error: {e}", file=sys.stderr)
        return e.exit_code
    except ModuleNotFoundError as e:
        extra = EXTRAS.get((e.name or "").split(".")[0])
        if extra is None:
            raise
        print(
            f"ferlab: error: {args.command} needs {e.name}, part of {extra[1]}: pip install 'ferlab[{extra[0]}]'",
            file=sys.stderr,
        )
        return 2
    except KeyboardInterrupt:
        print("ferlab: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into `head` and closed early: not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
