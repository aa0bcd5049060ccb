"""FER-2013 in memory: readers, the ICML protocol, resampling, batched augmentation, data module."""

from ferlab.data.fer2013 import FerData, ReadStats, Split, load_fer2013

__all__ = ["FerData", "ReadStats", "Split", "load_fer2013"]
