"""Shared bench helpers: one thread, the real example data, timing."""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("ALCHEMI_PLOTS", "0")  # the end-of-run plot (~1 s) is not the loop

import time  # noqa: E402
from pathlib import Path  # noqa: E402

import torch  # noqa: E402

from alchemi_core.data.prepare import prepare  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
torch.set_num_threads(1)


def diamonds_dir() -> Path:
    out = ROOT / "data" / "diamonds"
    if not (out / "cardinalities.json").exists():
        prepare("diamonds", out)
    return out


def best_of(fn, repeats: int = 3) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def table(rows: list[dict], title: str) -> str:
    keys = list(rows[0])
    widths = {k: max(len(k), *(len(f"{r[k]}") for r in rows)) for k in keys}
    line = " | ".join(k.ljust(widths[k]) for k in keys)
    sep = "-+-".join("-" * widths[k] for k in keys)
    body = "\n".join(" | ".join(f"{r[k]}".ljust(widths[k]) for k in keys) for r in rows)
    return f"{title}\n{line}\n{sep}\n{body}"
