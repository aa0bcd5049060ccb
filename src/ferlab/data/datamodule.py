"""Lightning data module over the in-memory uint8 tensors.

Batches are slices of one big tensor, picked by `EpochBatchSampler`; conversion to float,
normalisation and augmentation happen batched in the LightningModule, on the training device.
With `on_device`, the training set itself lives on the training device (FER-2013's 28,709 48×48
faces are 66 MB) and batches are drawn there: on a GPU a step then needs nothing from the host.
"""

from __future__ import annotations

import lightning as L
import torch
from torch.utils.data import DataLoader, Dataset

from ferlab.data.fer2013 import FerData, Split, load_fer2013
from ferlab.data.sampling import EpochBatchSampler


class _BatchView(Dataset):
    """dataset[index_tensor] → (uint8 images, labels[, soft targets]): one slice per batch."""

    def __init__(self, split: Split, soft_targets: torch.Tensor | None = None) -> None:
        self.images, self.labels, self.soft = split.images, split.labels, soft_targets

    def __getitem__(self, idx: torch.Tensor) -> tuple[torch.Tensor, ...]:
        if self.soft is not None:
            return self.images[idx], self.labels[idx], self.soft[idx]
        return self.images[idx], self.labels[idx]

    def __len__(self) -> int:
        return len(self.labels)


class DeviceBatches:
    """An epoch of training batches gathered on the device from tensors kept there. Lightning
    calls `sampler.set_epoch` on it each epoch, as on a DataLoader, so a resumed run continues."""

    def __init__(self, split: Split, soft: torch.Tensor | None, sampler: EpochBatchSampler) -> None:
        dev = sampler.device
        self.images, self.labels = split.images.to(dev), split.labels.to(dev)
        self.soft = soft.to(dev) if soft is not None else None
        self.sampler = sampler

    def __len__(self) -> int:
        return len(self.sampler)

    def __iter__(self):
        for idx in self.sampler:
            if self.soft is not None:
                yield self.images[idx], self.labels[idx], self.soft[idx]
            else:
                yield self.images[idx], self.labels[idx]


class FerDataModule(L.LightningDataModule):
    def __init__(
        self,
        data: str | FerData,
        *,
        batch_size: int = 128,
        eval_batch_size: int = 512,
        balanced: bool = True,
        seed: int = 0,
        limit_train: int | None = None,
        limit_val: int | None = None,
        strict: bool = False,
        on_device: bool = False,
        labels: str | None = None,
    ) -> None:
        super().__init__()
        self.source = data
        self.batch_size = batch_size
        self.eval_batch_size = eval_batch_size
        self.balanced = balanced
        self.seed = seed
        self.limit_train = limit_train
        self.limit_val = limit_val
        self.strict = strict
        self.on_device = on_device
        self.labels = labels
        self.data: FerData | None = data if isinstance(data, FerData) else None
        # offline distillation: one row of teacher probabilities per (limited) training image
        self.train_soft_targets: torch.Tensor | None = None

    def setup(self, stage: str | None = None) -> None:
        if self.data is None:
            self.data = load_fer2013(self.source, strict=self.strict, labels=self.labels)

    @property
    def train_split(self) -> Split:
        # a seeded subset stratified across classes keeps tiny runs representative
        return self.data.splits["train"].limited(self.limit_train, self.seed)

    @property
    def val_split(self) -> Split:
        return self.data.splits["val"].limited(self.limit_val, self.seed)

    def train_dataloader(self) -> DataLoader | DeviceBatches:
        split = self.train_split
        rank, world = (self.trainer.global_rank, self.trainer.world_size) if self.trainer else (0, 1)
        device = self.trainer.strategy.root_device if (self.on_device and self.trainer) else torch.device("cpu")
        sampler = EpochBatchSampler(
            split.labels,
            self.batch_size,
            balanced=self.balanced,
            seed=self.seed,
            rank=rank,
            world_size=world,
            device=device if self.on_device else "cpu",
        )
        # soft targets: the teachers' (offline distillation) or the data's own (FER+ vote distributions)
        soft = self.train_soft_targets if self.train_soft_targets is not None else split.soft
        if self.on_device:
            return DeviceBatches(split, soft, sampler)
        return DataLoader(_BatchView(split, soft), batch_size=None, sampler=sampler, num_workers=0)

    def val_dataloader(self) -> DataLoader:
        split = self.val_split
        rank, world = (self.trainer.global_rank, self.trainer.world_size) if self.trainer else (0, 1)
        # Validation is sharded too, unshuffled; metrics are synced across ranks by Lightning.
        idx = torch.arange(len(split))[rank::world]
        batches = list(torch.split(idx, self.eval_batch_size))
        return DataLoader(_BatchView(split), batch_size=None, sampler=batches, num_workers=0)
