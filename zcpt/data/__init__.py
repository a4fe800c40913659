"""Datasets, readers for their standard formats, augmentation and batches.

``load_dataset(name, path, image_size)`` returns an in-memory :class:`ImageDataset`;
:class:`BatchSource` turns one of its splits into reproducible, normalised,
optionally augmented minibatches on a device.
"""
from .batches import BatchSource
from .transforms import Augmentation
from .datasets import (
    DATASETS, ImageDataset, channel_stats, list_datasets, load_dataset, register_dataset,
)

__all__ = [
    "Augmentation", "BatchSource", "DATASETS", "ImageDataset", "channel_stats",
    "list_datasets", "load_dataset", "register_dataset",
]
