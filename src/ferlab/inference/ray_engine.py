"""`ferlab predict --engine ray`: the batch job as a Ray Data pipeline, for collections that
outgrow one machine.

    paths ──► shards of N paths ──► read_binary_files ──► map_batches(Recognize) ──► write_parquet
                                                          (an actor pool; each actor
                                                           loads the recognizer once)

Inputs may be local folders, files and globs, a manifest (`--from-list`), or any URI pyarrow's
filesystems understand (s3://, gs://, hdfs://...; listed with pyarrow.fs). The output is a folder
(local or a URI) of one sub-folder per shard, `shard-00012-of-00040/`, holding Ray's Parquet
parts in the same schema as `--out x.parquet` (ferlab.inference.outputs). A shard's folder
appears, by a rename, only when the shard is complete, so `--resume` skips finished shards and
redoes the rest: shard names are fixed by the sorted input list, so a rerun meets the same
shards. The same command runs against a cluster with `--ray-address ray://host:10001`.
"""

from __future__ import annotations

import hashlib
import math
import time
from pathlib import Path

from ferlab.errors import FerlabError
from ferlab.options import RecognizerOptions
from ferlab.paths import IMAGE_EXTS


class Recognize:
    """The map_batches callable: built once per actor (the model and detector load once), then
    called on batches of {"path", "bytes"} rows; returns the rows of `--out .parquet`."""

    def __init__(self, options: RecognizerOptions) -> None:
        import cv2

        from ferlab.inference.outputs import RunInfo, parquet_schema
        from ferlab.inference.recognizer import Recognizer

        cv2.setNumThreads(1)  # one core per actor: the actor pool is the parallelism
        self.rec = Recognizer(options=options.replace(threads=options.threads or 1))
        self.run = RunInfo.of(self.rec)
        self.schema = parquet_schema(self.run)

    def __call__(self, batch: dict):
        import pyarrow as pa

        from ferlab.inference.outputs import image_rows

        paths = [str(p) for p in batch["path"]]
        results = self.rec.run_batch(list(batch["bytes"]), names=paths)
        cols = list(zip(*(row for r in results for row in image_rows(r, self.run)), strict=True))
        return pa.Table.from_arrays(
            [pa.array(c, type=f.type) for c, f in zip(cols, self.schema, strict=True)], schema=self.schema
        )


def list_inputs(items: list[str], from_list: str | None) -> list[str]:
    """Every input path, sorted (the shards depend on it): local inputs as `predict` walks them,
    URIs listed recursively through pyarrow's filesystem for their scheme."""
    from ferlab.inference.batch import iter_inputs, read_list

    local = [i for i in items if "://" not in i]
    remote = [i for i in items if "://" in i]
    paths = list(iter_inputs(local)) if local else []
    for uri in remote:
        import pyarrow.fs as pafs

        fs, root = pafs.FileSystem.from_uri(uri)
        info = fs.get_file_info(root)
        if info.type == pafs.FileType.File:
            paths.append(uri)
            continue
        if info.type == pafs.FileType.NotFound:
            raise FerlabError(f"{uri}: not found")
        scheme = uri.split("://", 1)[0]
        for f in fs.get_file_info(pafs.FileSelector(root, recursive=True)):
            name = f.base_name
            if f.type == pafs.FileType.File and not name.startswith(".") and Path(name).suffix.lower() in IMAGE_EXTS:
                paths.append(f"{scheme}://{f.path}")
    if from_list:
        paths += list(read_list(from_list))
    if not paths:
        raise FerlabError("--engine ray: no input images")
    return sorted(set(paths))


def shard_names(paths: list[str], shard_size: int) -> list[tuple[str, list[str]]]:
    n = max(1, math.ceil(len(paths) / shard_size))
    # the name carries a digest of the shard's paths: a changed input list never reuses an old shard
    out = []
    for i in range(n):
        part = paths[i * shard_size : (i + 1) * shard_size]
        digest = hashlib.sha256("\n".join(part).encode()).hexdigest()[:8]
        out.append((f"shard-{i:05d}-of-{n:05d}-{digest}", part))
    return out


def run_ray(
    options: RecognizerOptions,
    items: list[str],
    out: str,
    *,
    from_list: str | None = None,
    address: str | None = None,
    resume: bool = False,
    shard_size: int = 2000,
    batch_size: int = 16,
    actors: int | None = None,
    progress: bool = True,
) -> dict:
    """Run the batch job on Ray; returns counts and timings (start-up apart from the work)."""
    import pyarrow.fs as pafs
    import ray

    from ferlab.inference.recognizer import Recognizer

    Recognizer(options=options)  # the model and settings checked before Ray starts
    fs, root = pafs.FileSystem.from_uri(out) if "://" in out else (pafs.LocalFileSystem(), str(Path(out).resolve()))
    existing = fs.get_file_info(root)
    if existing.type == pafs.FileType.File:
        raise FerlabError(f"{out}: --engine ray writes a folder of shards, and this is an existing file")
    done_names = set()
    if existing.type == pafs.FileType.Directory:
        done_names = {
            f.base_name for f in fs.get_file_info(pafs.FileSelector(root)) if f.base_name.startswith("shard-")
        }
        if done_names and not resume:
            raise FerlabError(f"{out}: holds finished shards; --resume continues it")
    fs.create_dir(root, recursive=True)
    paths = list_inputs(items, from_list)
    shards = shard_names(paths, shard_size)
    todo = [(name, part) for name, part in shards if name not in done_names]
    t0 = time.perf_counter()
    # a local instance without the dashboard: on a small machine its processes take CPU from the actors
    local = {} if address else {"include_dashboard": False}
    ray.init(address=address, ignore_reinit_error=True, logging_level="ERROR", log_to_driver=False, **local)
    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = progress
    ctx.verbose_progress = False
    import logging

    logging.getLogger("ray.data").setLevel(logging.WARNING)
    started = time.perf_counter() - t0
    pool = actors or max(1, int(ray.cluster_resources().get("CPU", 1)))
    import inspect

    # Ray ≥ 2.5x names the read's resources directly; older releases take them as ray_remote_args
    named = "num_cpus" in inspect.signature(ray.data.read_binary_files).parameters
    io_cpus = {"num_cpus": 0} if named else {"ray_remote_args": {"num_cpus": 0}}
    t1 = time.perf_counter()
    images = 0
    for name, part in todo:
        # reading and writing are I/O: they take no CPU slot, so the actors (a core each) never
        # starve them on a small machine
        ds = ray.data.read_binary_files(part, include_paths=True, **io_cpus)
        ds = ds.map_batches(
            Recognize,
            fn_constructor_kwargs={"options": options},
            batch_size=batch_size,
            compute=ray.data.ActorPoolStrategy(size=pool),
            num_cpus=1,
            batch_format="numpy",
        )
        tmp = f"{root}/.{name}.tmp"
        fs.delete_dir_contents(tmp, missing_dir_ok=True)
        ds.write_parquet(
            tmp if "://" not in out else f"{out.split('://', 1)[0]}://{tmp}", ray_remote_args={"num_cpus": 0}
        )
        fs.move(tmp, f"{root}/{name}")  # the shard appears complete, or not at all
        images += len(part)
    seconds = time.perf_counter() - t1
    return {
        "images": images,
        "shards": len(shards),
        "shards_skipped": len(shards) - len(todo),
        "actors": pool,
        "startup_s": round(started, 2),
        "seconds": round(seconds, 2),
        "images_per_s": round(images / seconds, 2) if seconds else None,
        "out": out,
    }
