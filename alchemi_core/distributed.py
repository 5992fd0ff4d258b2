"""Data parallel training under torchrun: one process per device, gradients averaged by DDP.

Generic helpers any training entry uses: `init()` joins the process group torchrun describes
(RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR/PORT; NCCL on GPUs, gloo on CPU); without torchrun
every helper is a no-op for one process. Only the main rank (0) writes files and tracks.
"""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

import torch
import torch.distributed as dist


def launched() -> bool:
    """Started by torchrun (or any launcher that sets WORLD_SIZE > 1)."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def active() -> bool:
    return dist.is_available() and dist.is_initialized()


def init(device: str | None = None) -> None:
    """Join the process group once, when launched; the backend follows the device."""
    if active() or not launched():
        return
    asked = device in (None, "auto") or device.startswith("cuda")
    cuda = torch.cuda.is_available() and asked
    if cuda:
        torch.cuda.set_device(local_rank())
    dist.init_process_group("nccl" if cuda else "gloo")


def local_rank() -> int:
    return int(os.environ.get("LOCAL_RANK", "0"))


def rank() -> int:
    return dist.get_rank() if active() else 0


def world() -> int:
    return dist.get_world_size() if active() else 1


def is_main() -> bool:
    return rank() == 0


def device_for(device: torch.device) -> torch.device:
    """A CUDA device becomes this rank's own GPU."""
    if active() and device.type == "cuda":
        return torch.device("cuda", local_rank())
    return device


def reduce_sum(t: torch.Tensor) -> torch.Tensor:
    """The sum over ranks (a copy; the input is left as it was)."""
    if not active():
        return t
    out = t.clone()
    dist.all_reduce(out, op=dist.ReduceOp.SUM)
    return out


def mean_rows(x: torch.Tensor) -> torch.Tensor:
    """The column means of every rank's rows of `x` together."""
    if not active():
        return x.mean(dim=0)
    total = reduce_sum(torch.cat([x.sum(dim=0), x.new_tensor([x.shape[0]])]))
    return total[:-1] / total[-1]


def all_rows(x: torch.Tensor) -> torch.Tensor:
    """Every rank's rows of `x` (equal counts), in rank order; the gradient of each rank's
    part flows back to that rank (contrastive losses: every rank's rows as negatives)."""
    if not active() or world() == 1:
        return x
    from torch.distributed.nn.functional import all_gather

    return torch.cat(all_gather(x))


def share(obj: Any) -> Any:
    """Rank 0's `obj` on every rank (pickled; for small decisions and resume states)."""
    if not active():
        return obj
    box = [obj if is_main() else None]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def gather(obj: Any) -> list[Any]:
    """Every rank's `obj`, in rank order."""
    if not active():
        return [obj]
    out: list[Any] = [None] * world()
    dist.all_gather_object(out, obj)
    return out


def wrap(model: torch.nn.Module) -> torch.nn.Module:
    """DDP around the model when there is more than one rank; the model itself otherwise."""
    if not active() or world() == 1:
        return model
    from torch.nn.parallel import DistributedDataParallel as DDP

    on_gpu = next(model.parameters()).is_cuda
    return DDP(model, device_ids=[local_rank()] if on_gpu else None)


def shard(indices: torch.Tensor | slice, pad: bool) -> torch.Tensor | slice | None:
    """This rank's contiguous part of one global batch; None if it has no rows.

    With `pad` (training) every rank gets the same number of rows: a global batch whose size
    does not divide by the world is padded from its own start, so gradients stay a mean.
    """
    n = world()
    if n == 1:
        return indices
    if isinstance(indices, slice):
        indices = torch.arange(indices.start, indices.stop)
    size = len(indices)
    per = -(-size // n)
    if pad and size % n:
        indices = torch.cat([indices, indices[: per * n - size]])
    part = indices[rank() * per : (rank() + 1) * per]
    return part if len(part) else None


def finish() -> None:
    if active():
        dist.barrier()  # no rank tears down gloo/NCCL while another still talks to it
        dist.destroy_process_group()


def launch(nproc: int, argv: list[str]) -> int:
    """Run `alchemi <argv>` under torchrun with `nproc` processes on this machine."""
    run = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
    return subprocess.call([*run, f"--nproc_per_node={nproc}", "-m", "alchemi_core.cli", *argv])
