"""EmbeddingDataLoader: a 2-D float `.npy`, memory-mapped, batches read by slicing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from pydantic import Field

from alchemi_core.errors import DataError
from alchemi_core.registry import register_dataloader
from alchemi_core.tabular.batching import Batch, BatchLoader, BatchLoaderParams, DataSpec
from alchemi_core.tabular.loader import check_file

CHUNK = 1 << 16


def open_embeddings(path: str | Path) -> np.ndarray:
    path = check_file(path, {".npy": "npy"}, "embeddings")
    try:
        arr = np.load(path, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError) as exc:
        raise DataError(f"not a valid .npy file: {str(exc).splitlines()[0]}", path) from None
    if arr.ndim != 2:
        raise DataError(f"expected a 2-D array (rows, width), got shape {arr.shape}", path)
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise DataError(f"array is empty, shape {arr.shape}", path)
    if not np.issubdtype(arr.dtype, np.floating):
        raise DataError(f"expected floats, got dtype {arr.dtype}", path)
    for start in range(0, arr.shape[0], CHUNK):
        block = np.asarray(arr[start : start + CHUNK])
        bad = np.flatnonzero(~np.isfinite(block).all(axis=1))
        if bad.size:
            raise DataError(f"non-finite value at row {start + int(bad[0])}", path)
    return arr


IN_MEMORY_BYTES = 1 << 30


class EmbeddingLoaderParams(BatchLoaderParams):
    in_memory: bool | None = Field(
        None, description="read the whole .npy into memory; null: yes when at most 1 GiB"
    )


@register_dataloader("EmbeddingDataLoader", params=EmbeddingLoaderParams)
class EmbeddingDataLoader(BatchLoader):
    """Rows of a `.npy` matrix as batches {"embeddings": float32 [B, width]}.

    `in_memory` (loader_params): read the whole array into one tensor and slice it per batch
    (the default when the file is at most 1 GiB: no per-batch copies from the map), or serve
    every batch from the memory map (the default above that size).
    """

    suffixes = (".npy",)

    def __init__(self, *args, in_memory: bool | None = None, **kwargs):
        self.in_memory = in_memory
        super().__init__(*args, **kwargs)

    def load(self, data) -> None:
        self.array = open_embeddings(self.path)
        name = data.columns.embeddings if data is not None else ["embeddings"]
        self.spec = DataSpec(embeddings=list(name), embedding_dim=int(self.array.shape[1]))
        self.device: torch.device | None = None
        keep = (
            self.in_memory if self.in_memory is not None else self.array.nbytes <= IN_MEMORY_BYTES
        )
        self.tensors = (
            {"embeddings": torch.from_numpy(np.array(self.array, np.float32))} if keep else {}
        )

    @property
    def num_rows(self) -> int:
        return int(self.array.shape[0])

    def take(self, idx: torch.Tensor | slice) -> Batch:
        if self.tensors:
            return super().take(idx)
        if isinstance(idx, torch.Tensor):
            idx = np.sort(idx.numpy())  # sorted reads are sequential on the memory map
        block = torch.from_numpy(np.array(self.array[idx], dtype=np.float32))
        if self.device is not None:
            block = block.to(self.device, non_blocking=True)
        return {"embeddings": block}

    def to(self, device: torch.device) -> EmbeddingDataLoader:
        if self.tensors:
            return super().to(device)  # the whole array moves once
        self.device = None if device.type == "cpu" else device
        return self
