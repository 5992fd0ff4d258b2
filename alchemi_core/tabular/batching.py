"""Batches by slicing whole-column tensors: no per-row Python in the hot path."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import torch
from pydantic import Field, NonNegativeInt, PositiveInt
from torch.utils.data import DataLoader, Dataset

from alchemi_core import distributed
from alchemi_core.registry import Params

Batch = dict[str, torch.Tensor]


@dataclass
class DataSpec:
    """What a model needs to know about its input columns (saved in checkpoints)."""

    numerical: list[str] = field(default_factory=list)
    categorical: dict[str, int] = field(default_factory=dict)  # column -> cardinality
    embeddings: list[str] = field(default_factory=list)
    embedding_dim: int = 0

    def to_dict(self) -> dict:
        return {
            "numerical": list(self.numerical),
            "categorical": dict(self.categorical),
            "embeddings": list(self.embeddings),
            "embedding_dim": self.embedding_dim,
        }

    @classmethod
    def from_dict(cls, d: dict) -> DataSpec:
        return cls(d["numerical"], d["categorical"], d["embeddings"], d["embedding_dim"])


class _Take(Dataset):
    """Worker-side view: item = index tensor of one batch -> the sliced batch."""

    def __init__(self, loader: BatchLoader):
        self.loader = loader

    def __len__(self) -> int:
        return self.loader.num_rows

    def __getitem__(self, idx: torch.Tensor) -> Batch:
        return self.loader.take(idx)


class BatchLoaderParams(Params):
    """The params every BatchLoader takes (a loader with more declares a subclass)."""

    batch_size: PositiveInt = Field(description="rows per batch")
    shuffle: bool = Field(description="reshuffle the rows every epoch (seeded)")
    num_workers: NonNegativeInt = Field(
        0, description="processes building batches; 0: in the main process"
    )
    num_batches_per_epoch: PositiveInt | None = Field(
        None, description="cut each epoch short after this many batches"
    )
    drop_last: bool = Field(False, description="drop the last, smaller batch")


class BatchLoader:
    """Base loader: subclasses implement `load()`, filling `self.tensors` and `self.spec`
    (or override `take`/`num_rows` to serve rows another way, as the memory-mapped loader does).
    `suffixes`: the file types it reads (checked against data_path at load; None: any).
    """

    suffixes: tuple[str, ...] | None = None

    def __init__(
        self,
        data_path: str,
        data,
        batch_size: int,
        shuffle: bool,
        num_workers: int = 0,
        num_batches_per_epoch: int | None = None,
        drop_last: bool = False,
    ):
        self.path = Path(data_path)
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.num_workers = num_workers
        self.num_batches_per_epoch = num_batches_per_epoch
        self.drop_last = drop_last
        self.pad_shards = True  # data parallel: every rank the same rows per batch (training)
        self.generator = torch.Generator().manual_seed(0)
        self.tensors: Batch = {}
        self.spec = DataSpec()
        self.load(data)

    def load(self, data) -> None:
        raise NotImplementedError

    # -- data access -------------------------------------------------------------
    @property
    def num_rows(self) -> int:
        return next(iter(self.tensors.values())).shape[0]

    def take(self, idx: torch.Tensor | slice) -> Batch:
        return {k: v[idx] for k, v in self.tensors.items()}

    def to(self, device: torch.device) -> BatchLoader:
        self.tensors = {k: v.to(device) for k, v in self.tensors.items()}
        return self

    # -- iteration ---------------------------------------------------------------
    def seed(self, seed: int) -> None:
        self.generator.manual_seed(seed)

    def __len__(self) -> int:
        """Batches per epoch (per rank: under torchrun a batch is batch_size rows per rank)."""
        n, bs = self.num_rows, self.batch_size * distributed.world()
        full = n // bs if self.drop_last else -(-n // bs)
        if self.num_batches_per_epoch is not None:
            return min(full, self.num_batches_per_epoch)
        return full

    def _index_plan(self) -> list[torch.Tensor | slice]:
        bs, nb, n = self.batch_size * distributed.world(), len(self), self.num_rows
        if self.shuffle:  # every rank draws the same order, then reads its own shard of it
            perm = torch.randperm(n, generator=self.generator)
            plan = [perm[i * bs : (i + 1) * bs] for i in range(nb)]
        else:
            plan = [slice(i * bs, min((i + 1) * bs, n)) for i in range(nb)]
        if distributed.world() == 1:
            return plan
        shards = [distributed.shard(idx, self.pad_shards) for idx in plan]
        return [idx for idx in shards if idx is not None]

    def __iter__(self) -> Iterator[Batch]:
        plan = self._index_plan()
        if self.num_workers == 0:
            for idx in plan:
                yield self.take(idx)
            return
        as_tensors = [
            torch.arange(i.start, min(i.stop, self.num_rows)) if isinstance(i, slice) else i
            for i in plan
        ]
        dl = DataLoader(
            _Take(self),
            sampler=as_tensors,
            batch_size=None,
            num_workers=self.num_workers,
            pin_memory=torch.cuda.is_available(),
        )
        yield from dl

    def state_dict(self) -> dict:
        return {"generator": self.generator.get_state()}

    def load_state_dict(self, state: dict) -> None:
        self.generator.set_state(state["generator"])
