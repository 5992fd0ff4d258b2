"""Runtime settings: seed precedence, device, dtypes, autocast and determinism.

Seed precedence (first set wins): --seed, global.seed, experiment.seed, train.seed (legacy), 0.
Device precedence: global.device, experiment.device, then "auto" (CUDA when present, else CPU);
`device_name` (in config/schema.py: torch-free) is that rule, and every config kind (training,
extract, predict, pipeline) uses it.
"""

from __future__ import annotations

import contextlib
import os
import random
from dataclasses import dataclass

import numpy as np
import torch

from alchemi_core import distributed
from alchemi_core.config.schema import (
    MAX_SEED,
    device_name,  # noqa: F401  (torch-free, re-exported)
)
from alchemi_core.errors import ConfigError, UserError

DTYPES = {
    "float32": torch.float32,
    "float64": torch.float64,
    "bf16": torch.bfloat16,
    "bfloat16": torch.bfloat16,
    "fp16": torch.float16,
    "float16": torch.float16,
}
DEFAULT_SEED = 0


@dataclass(frozen=True)
class Runtime:
    seed: int
    seed_source: str
    device: torch.device
    dtype: torch.dtype
    amp_dtype: torch.dtype | None
    deterministic: bool
    threads: int | None = None

    def describe(self) -> dict[str, str | int | bool]:
        return {
            "seed": self.seed,
            "seed_source": self.seed_source,
            "device": str(self.device),
            "dtype": str(self.dtype).removeprefix("torch."),
            "amp_dtype": str(self.amp_dtype).removeprefix("torch.") if self.amp_dtype else "none",
            "deterministic": self.deterministic,
            "threads": self.threads or torch.get_num_threads(),
        }

    def summary(self) -> str:
        """The runtime part of a run's start line: seed (and its source), device, dtypes."""
        d = self.describe()
        return (
            f"seed {d['seed']} ({d['seed_source']}), device {d['device']}, dtype {d['dtype']}, "
            f"amp {d['amp_dtype']}, deterministic {d['deterministic']}"
        )

    def autocast(self) -> contextlib.AbstractContextManager:
        if self.amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=self.amp_dtype)


def resolve_seed(cfg, cli_seed: int | None = None) -> tuple[int, str]:
    train = getattr(cfg, "train", None)
    for source, value in (
        ("--seed", cli_seed),
        ("global.seed", cfg.global_.seed),
        ("experiment.seed", getattr(cfg.experiment, "seed", None)),
        ("train.seed", getattr(train, "seed", None)),
    ):
        if value is not None:
            if not 0 <= int(value) <= MAX_SEED:  # only --seed can get here unchecked
                raise UserError(
                    f"{value}: give a seed from 0 to {MAX_SEED}", "command line", source
                )
            return int(value), source
    return DEFAULT_SEED, "default"


def resolve_device(name: str | None, file: str | None = None) -> torch.device:
    name = name or "auto"
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(f"{name!r} asked for but CUDA is not available", file, "device")
        if device.index is not None and device.index >= torch.cuda.device_count():
            count = torch.cuda.device_count()
            raise ConfigError(f"{name!r}: only {count} GPU(s) present", file, "device")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise ConfigError("'mps' asked for but not available", file, "device")
    return device


def resolve_runtime(cfg, cli_seed: int | None = None, file: str | None = None) -> Runtime:
    g = cfg.global_
    seed, source = resolve_seed(cfg, cli_seed)
    device = distributed.device_for(resolve_device(device_name(cfg), file))
    dtype = DTYPES[g.dtype or "float32"]
    amp = DTYPES[g.amp_dtype] if g.amp_dtype else None
    if amp is not None and amp not in (torch.bfloat16, torch.float16):
        raise ConfigError("autocast needs bf16 or fp16", file, "global.amp_dtype")
    if amp is torch.float16 and device.type == "cpu":
        raise ConfigError(
            "fp16 autocast is not supported on CPU; use bf16", file, "global.amp_dtype"
        )
    return Runtime(seed, source, device, dtype, amp, bool(g.deterministic), g.threads)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def apply(rt: Runtime) -> None:
    """Seed all RNGs and set determinism flags for this process."""
    seed_everything(rt.seed)
    if rt.threads:
        torch.set_num_threads(rt.threads)
    if rt.deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True, warn_only=False)
        torch.backends.cudnn.benchmark = False
        torch.backends.cudnn.deterministic = True
    else:
        torch.use_deterministic_algorithms(False)


def rng_state() -> dict:
    """Every global RNG state, in types torch.load(weights_only=True) accepts."""
    py = random.getstate()
    np_state = np.random.get_state()
    state = {
        "python": [py[0], list(py[1]), py[2]],
        "numpy": {
            "name": np_state[0],
            "keys": torch.from_numpy(np_state[1].astype(np.int64)),
            "pos": int(np_state[2]),
            "has_gauss": int(np_state[3]),
            "cached_gaussian": float(np_state[4]),
        },
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    py = state["python"]
    random.setstate((py[0], tuple(py[1]), py[2]))
    n = state["numpy"]
    np.random.set_state(
        (
            n["name"],
            n["keys"].numpy().astype(np.uint32),
            n["pos"],
            n["has_gauss"],
            n["cached_gaussian"],
        )
    )
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
