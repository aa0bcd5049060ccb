"""Which training images each epoch sees: the study's inverse-frequency resampling, or a shuffle.

The sampler yields whole batches of indices into the in-memory tensors (no per-image
`__getitem__`), is seeded per epoch so a resumed run sees the same batches, and shards itself
across DDP ranks — Lightning's automatic DistributedSampler is turned off for it.
"""

from __future__ import annotations

import torch

from ferlab.labels import NUM_CLASSES


def inverse_frequency_weights(labels: torch.Tensor) -> torch.Tensor:
    """Per-image sampling weight 1/count(class): each class is drawn equally often."""
    counts = torch.bincount(labels, minlength=NUM_CLASSES).clamp(min=1).double()
    return (1.0 / counts)[labels]


def class_loss_weights(labels: torch.Tensor) -> torch.Tensor:
    """Per-class loss weights N / (K · count), the usual 'balanced' weighting (mean ≈ 1)."""
    counts = torch.bincount(labels, minlength=NUM_CLASSES).clamp(min=1).float()
    return counts.sum() / (len(counts) * counts)  # K: 7, or 8 with FER+'s contempt


class EpochBatchSampler:
    """Yields LongTensor batches of indices; `set_epoch` is called by Lightning every epoch."""

    def __init__(
        self,
        labels: torch.Tensor,
        batch_size: int,
        *,
        balanced: bool,
        seed: int = 0,
        shuffle: bool = True,
        rank: int = 0,
        world_size: int = 1,
        drop_last: bool = True,
        device: torch.device | str = "cpu",
    ) -> None:
        self.device = torch.device(device)
        labels = labels.to(self.device)
        self.labels = labels
        self.batch_size = batch_size
        self.balanced = balanced
        self.seed = seed
        self.shuffle = shuffle
        self.rank = rank
        self.world_size = world_size
        self.drop_last = drop_last
        self.epoch = 0
        self._weights = inverse_frequency_weights(labels) if balanced else None

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def epoch_indices(self) -> torch.Tensor:
        """This epoch's indices, drawn on `device` (on a GPU: no host work, no synchronisation)."""
        n = len(self.labels)
        g = torch.Generator(device=self.device).manual_seed(self.seed * 1_000_003 + self.epoch)
        if self._weights is not None:
            # Same epoch size as the data: minority classes over-sampled, majority under-sampled.
            idx = torch.multinomial(self._weights, n, replacement=True, generator=g)
        elif self.shuffle:
            idx = torch.randperm(n, generator=g, device=self.device)
        else:
            idx = torch.arange(n, device=self.device)
        per_rank = len(idx) // self.world_size
        return idx[self.rank * per_rank : (self.rank + 1) * per_rank] if self.world_size > 1 else idx

    def __iter__(self):
        idx = self.epoch_indices()
        for start in range(0, len(idx), self.batch_size):
            batch = idx[start : start + self.batch_size]
            # A batch of one breaks batch norm; a short tail is dropped in training only.
            if self.drop_last and len(batch) < self.batch_size and start > 0:
                return
            yield batch

    def __len__(self) -> int:
        n = len(self.labels) // self.world_size
        return n // self.batch_size if self.drop_last and n >= self.batch_size else -(-n // self.batch_size)
