"""Training speed of cnn-v2.1 on this machine, all measured in one process (one run, one load):

1. the machine's ceiling: float32 2048² matmul GFLOP/s on all threads → images/s at the model's
   training FLOPs (forward + backward, counted by torch's FlopCounterMode);
2. the plain eager loop people write: NCHW float tensors in memory, batch 128, AdamW, fp32;
3. ferlab's whole path: uint8 data in memory → balanced sampler → batched augmentation →
   channels_last forward/backward → optimizer → Lightning logging (the real `ferlab train` code),
   as the host path (batches sliced on the host, moved to the device) and as the device-resident
   path (`data.on_device`: data, sampling and augmentation draws on the training device; on a
   GPU no host work per step — here, on the CPU, it must simply not be slower);
4. for scale, an epoch of the pipeline users first write: a Dataset that decodes each JPEG with
   PIL per image behind a DataLoader (measured on part of an epoch, extrapolated).

Writes benchmarks/results/train_speed.json and .md.
Usage: python benchmarks/train_speed.py [--data ZIP] [--repeats 3] [--steps 40]
"""

from __future__ import annotations

import argparse
import io
import statistics
import time
import zipfile
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

from ferlab.measure import machine_info, write_results
from ferlab.models import build
from ferlab.paths import default_data

OUT = Path(__file__).parent / "results"


def matmul_gflops(n: int = 2048, reps: int = 20) -> float:
    a, b = torch.randn(n, n), torch.randn(n, n)
    for _ in range(3):
        a @ b
    t = time.perf_counter()
    for _ in range(reps):
        a @ b
    return 2 * n**3 * reps / (time.perf_counter() - t) / 1e9


def train_flops_per_image(arch: str) -> float:
    m = build(arch)
    x = torch.randn(8, 1, 48, 48)
    with FlopCounterMode(display=False) as fc:
        F.cross_entropy(m(x), torch.zeros(8, dtype=torch.long)).backward()
    return fc.get_total_flops() / 8


def plain_loop(arch: str, batch: int, steps: int) -> float:
    """The eager baseline: NCHW fp32, AdamW, nothing else."""
    torch.manual_seed(0)
    m = build(arch).train()
    opt = torch.optim.AdamW(m.parameters(), 1e-3)
    x, y = torch.randn(batch, 1, 48, 48), torch.randint(0, 7, (batch,))
    for i in range(steps + 5):
        if i == 5:
            t = time.perf_counter()
        opt.zero_grad()
        F.cross_entropy(m(x), y).backward()
        opt.step()
    return batch * steps / (time.perf_counter() - t)


def ferlab_path(arch: str, batch: int, steps: int, data, augment: dict | None = None, on_device: bool = False) -> float:
    """`ferlab train`'s code: FerDataModule + FerModule under a Lightning Trainer."""
    import lightning as L

    from ferlab.data.datamodule import FerDataModule
    from ferlab.training.module import FerModule
    from ferlab.training.run import quiet_lightning

    quiet_lightning()

    class Timer(L.Callback):
        def __init__(self):
            self.t0, self.n = None, 0

        def on_train_batch_start(self, trainer, pl_module, b, i):
            if i == 5:
                self.t0 = time.perf_counter()

        def on_train_batch_end(self, trainer, pl_module, out, b, i):
            if i >= 5:
                self.n += len(b[1])
                self.t1 = time.perf_counter()

    timer = Timer()
    dm = FerDataModule(data, batch_size=batch, balanced=True, seed=0, on_device=on_device)
    module = FerModule(arch, optimizer="adamw", lr=1e-3, augment=augment, on_device=on_device)
    trainer = L.Trainer(
        max_steps=steps + 5,
        limit_val_batches=0,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        use_distributed_sampler=False,
        accelerator="cpu",
        devices=1,
        callbacks=[timer],
    )
    trainer.fit(module, datamodule=dm)
    return timer.n / (timer.t1 - timer.t0)


def pil_dataloader_epoch_seconds(zip_path: Path, batch: int, images: int) -> float:
    """Per-image JPEG decode + transform behind a DataLoader, timed on `images` images of a
    training epoch, extrapolated to 28,709 — for scale only."""
    import numpy as np
    from PIL import Image
    from torch.utils.data import DataLoader, Dataset

    from ferlab.labels import CLASSES, canonical_class

    zf = zipfile.ZipFile(zip_path)
    names = [n for n in zf.namelist() if n.startswith("train/") and n.endswith(".jpg")][:images]

    class JpegDataset(Dataset):
        def __len__(self):
            return len(names)

        def __getitem__(self, i):
            with Image.open(io.BytesIO(zf.read(names[i]))) as opened:
                im = opened.convert("L")
            if torch.rand(()) < 0.5:
                im = im.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
            im = im.rotate(float(torch.empty(()).uniform_(-10, 10)))
            x = torch.from_numpy(np.asarray(im, dtype=np.float32) / 255.0)[None]
            return (x - 0.5) / 0.25, CLASSES.index(canonical_class(names[i].split("/")[1]))

    m = build("cnn-v2.1").train()
    opt = torch.optim.AdamW(m.parameters(), 1e-3)
    t = time.perf_counter()
    for x, y in DataLoader(JpegDataset(), batch_size=batch, shuffle=True, num_workers=0):
        opt.zero_grad()
        F.cross_entropy(m(x), y).backward()
        opt.step()
    return (time.perf_counter() - t) / len(names) * 28709


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default=default_data())
    ap.add_argument("--arch", default="cnn-v2.1")
    ap.add_argument("--batch", type=int, default=128, help="plain loop batch (the issue's baseline)")
    ap.add_argument("--ferlab-batch", type=int, default=64, help="ferlab path batch (configs use 64)")
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--pil-images", type=int, default=3000)
    ap.add_argument("--out", default=str(OUT))
    args = ap.parse_args()

    from ferlab.data import load_fer2013

    data = load_fer2013(args.data)
    flops = train_flops_per_image(args.arch)
    aug = {"hflip": True, "rotate": 10, "translate": 0.08, "scale": [0.9, 1.1], "erase": 0.25}
    rows: dict[str, list[float]] = {
        "matmul_gflops": [],
        "plain_img_s": [],
        "ferlab_img_s": [],
        "ferlab_aug_img_s": [],
        "device_img_s": [],
        "device_aug_img_s": [],
    }
    for r in range(args.repeats):  # interleaved, so load changes hit every measurement alike
        rows["matmul_gflops"].append(matmul_gflops())
        rows["plain_img_s"].append(plain_loop(args.arch, args.batch, args.steps))
        rows["ferlab_img_s"].append(ferlab_path(args.arch, args.ferlab_batch, args.steps, data))
        rows["ferlab_aug_img_s"].append(ferlab_path(args.arch, args.ferlab_batch, args.steps, data, aug))
        rows["device_img_s"].append(ferlab_path(args.arch, args.ferlab_batch, args.steps, data, on_device=True))
        rows["device_aug_img_s"].append(
            ferlab_path(args.arch, args.ferlab_batch, args.steps, data, aug, on_device=True)
        )
        print(f"repeat {r + 1}: " + ", ".join(f"{k} {v[-1]:.1f}" for k, v in rows.items()), flush=True)
    med = {k: statistics.median(v) for k, v in rows.items()}
    ceiling = med["matmul_gflops"] * 1e9 / flops
    pil_epoch = pil_dataloader_epoch_seconds(Path(args.data), args.batch, args.pil_images) if args.pil_images else None
    res = {
        "arch": args.arch,
        "train_gflop_per_image": flops / 1e9,
        "medians": med,
        "all": rows,
        "ceiling_img_s": ceiling,
        "ferlab_fraction_of_ceiling": med["ferlab_img_s"] / ceiling,
        "ferlab_vs_plain": med["ferlab_img_s"] / med["plain_img_s"],
        "device_vs_host": med["device_img_s"] / med["ferlab_img_s"],
        "device_vs_host_augmented": med["device_aug_img_s"] / med["ferlab_aug_img_s"],
        "epoch_seconds": {
            "plain_loop": 28709 / med["plain_img_s"],
            "ferlab": 28709 / med["ferlab_img_s"],
            "pil_per_image_dataloader": pil_epoch,
        },
        "settings": {
            "plain_batch": args.batch,
            "ferlab_batch": args.ferlab_batch,
            "steps": args.steps,
            "repeats": args.repeats,
            "pil_images_timed": args.pil_images,
        },
        "machine": machine_info(),
    }
    m = res["machine"]
    md = [
        f"# Training speed: {args.arch} (medians of {args.repeats} interleaved repeats, one process)",
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores, torch {m['torch']} ({m['torch_threads']} threads), CPU only.",
        "",
        "| measure | value |",
        "|---|---:|",
        f"| 2048² fp32 matmul | {med['matmul_gflops']:.1f} GFLOP/s |",
        f"| training FLOPs per image (fwd+bwd) | {flops / 1e9:.3f} GFLOP |",
        f"| ceiling (matmul rate / FLOPs) | {ceiling:.0f} img/s |",
        f"| plain eager loop (NCHW, batch {args.batch}, AdamW) | {med['plain_img_s']:.0f} img/s |",
        f"| **ferlab path** as configs/cnn_v2_1.yaml trains it (uint8 in memory, balanced sampler, channels_last, "
        f"batch {args.ferlab_batch}, Lightning) | **{med['ferlab_img_s']:.0f} img/s** |",
        f"| ferlab path + batched augmentation (flip, rotation, shift, zoom, erasing) | "
        f"{med['ferlab_aug_img_s']:.0f} img/s |",
        f"| device-resident path (`--on-device`), same settings | {med['device_img_s']:.0f} img/s "
        f"({res['device_vs_host']:.2f}× the host path) |",
        f"| device-resident path + augmentation | {med['device_aug_img_s']:.0f} img/s "
        f"({res['device_vs_host_augmented']:.2f}× the host path) |",
        f"| ferlab / plain | {res['ferlab_vs_plain']:.2f}× |",
        f"| ferlab / ceiling | {res['ferlab_fraction_of_ceiling']:.0%} |",
        f"| epoch (28,709 images): plain loop | {res['epoch_seconds']['plain_loop']:.0f} s |",
        f"| epoch: ferlab | {res['epoch_seconds']['ferlab']:.0f} s |",
    ]
    if pil_epoch:
        md.append(
            f"| epoch: PIL-per-image Dataset + DataLoader (timed on {args.pil_images} images, "
            f"extrapolated) | {pil_epoch:.0f} s |"
        )
    md += ["", "Reproduce: `python benchmarks/train_speed.py`", ""]
    write_results(args.out, "train_speed", res, md)


if __name__ == "__main__":
    main()
