"""Extraction throughput against a bare forward loop, measured in the same run.

Both sides embed the diamonds train split (43,152 rows) with the example VAE architecture
(configs/vae/diamonds.yaml; weights from a 2-batch training run, which do not affect speed)
in the extract config's batch size, under torch.inference_mode, on the same tensors:
  bare     for each slice: model.encode(batch) -- nothing kept
  extract  inference.loop.embed_all: the loader's batches, to_device, model.embed, rows stitched
           into one float32 array (exactly what `alchemi extract` runs per split)
  api      api.extract end to end for the train split: CSV read, checkpoint load, the loop,
           .npy + sidecar written atomically, sha256 of inputs and outputs (for scale only)
Target: extract >= 0.95x bare. The ratio is the median over --repeats rounds of adjacent
passes (bare, extract, extract, bare), which cancels most load drift on a shared machine;
rows/s are from each side's best pass.

  OMP_NUM_THREADS=1 .venv/bin/python bench/extract_speed.py [--repeats N]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
from common import ROOT, diamonds_dir

from alchemi_core import api, assembly
from alchemi_core.config.inference import ExtractConfig
from alchemi_core.config.loading import load_config
from alchemi_core.inference import loop


def bare_pass(model, tensors: dict, batch_size: int) -> None:
    n = next(iter(tensors.values())).shape[0]
    with torch.inference_mode():
        for i in range(0, n, batch_size):
            model.encode({k: v[i : i + batch_size] for k, v in tensors.items()})


def timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def paired(base, other, rounds: int) -> tuple[float, float, float]:
    """Best times of both and the median ratio base/other over ABBA rounds.

    On a shared machine, load shifts between passes; pairing adjacent passes and taking the
    median ratio cancels most of it.
    """
    ratios, best_a, best_b = [], float("inf"), float("inf")
    for _ in range(rounds):
        a1, b1, b2, a2 = timed(base), timed(other), timed(other), timed(base)
        ratios.append((a1 + a2) / (b1 + b2))
        best_a, best_b = min(best_a, a1, a2), min(best_b, b1, b2)
    return best_a, best_b, statistics.median(ratios)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=40)
    args = p.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="alchemi-extract-speed-"))
    os.chdir(work)  # the shipped configs use ./data and ./experiments
    (work / "data").mkdir()
    (work / "data" / "diamonds").symlink_to(diamonds_dir())
    quick = ["mlflow=null", "val=null", "checkpoint.metric=train_loss", "train.epochs=1",
             "train.loader_params.num_batches_per_epoch=2"]  # fmt: skip
    api.train(ROOT / "configs/vae/diamonds.yaml", quick)
    cfg = load_config(ROOT / "configs/extract/diamonds.yaml", ["val=null", "test=null"],
                      model=ExtractConfig)  # fmt: skip
    model, ckpt, rt = assembly.open_checkpoint(cfg, "bench")
    device = rt.device
    loader = loop.open_split(cfg.train, cfg.data, ckpt["data_spec"], "bench", "train")
    bs, rows = loader.batch_size, loader.num_rows
    bare, extract, ratio = paired(
        lambda: bare_pass(model, loader.tensors, bs),
        lambda: loop.embed_all(model, loader, device),
        args.repeats,
    )
    t0 = time.perf_counter()
    api.extract(cfg)
    end_to_end = time.perf_counter() - t0
    os.chdir(ROOT)
    shutil.rmtree(work, ignore_errors=True)
    print(f"{rows} rows, batch {bs}, {torch.get_num_threads()} thread(s), device {device}")
    print(f"bare encode loop   {rows / bare:12,.0f} rows/s")
    print(f"extract loop       {rows / extract:12,.0f} rows/s   ratio {ratio:.3f}x (median)")
    print(f"api.extract (I/O)  {rows / end_to_end:12,.0f} rows/s   (CSV read, hashes, writes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
