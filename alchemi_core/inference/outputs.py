"""Inference output files, written atomically, each with a JSON sidecar (`<output stem>.json`).

A `.npy` output holds the float32 table; a `.parquet` output holds the same named columns, with
categorical class indices mapped back to their labels. The sidecar lists the column names.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from alchemi_core.io import file_sha256
from alchemi_core.output_plan import OutputPlan, sidecar_path
from alchemi_core.tabular.loader import load_cardinalities
from alchemi_core.version import code_version


def save_npy(array: np.ndarray):
    def _save(tmp: Path) -> None:
        with open(tmp, "wb") as fh:
            np.save(fh, array, allow_pickle=False)

    return _save


def write_output(
    plan: OutputPlan,
    target: str | Path,
    values: torch.Tensor,
    meta: dict[str, Any],
    frame: pd.DataFrame | None,
) -> dict[str, Any]:
    """Stage the array (or parquet frame), then its sidecar, in `plan` (planned with
    sidecar=True); returns path, sha256, sidecar."""
    target = Path(target)
    if frame is None:
        tmp = plan.write(target, save_npy(values.numpy()))
    else:
        tmp = plan.write(target, lambda p: frame.to_parquet(p, index=False))
    sha = file_sha256(tmp)
    side = sidecar_path(target)
    plan.write_json(side, {"output": str(target), "sha256": sha, **meta})
    return {"path": str(target), "sha256": sha, "sidecar": str(side)}


def provenance(ckpt: dict, ckpt_sha: str, cfg, data_path: str) -> dict[str, Any]:
    return {
        "checkpoint": ckpt["path"],
        "checkpoint_sha256": ckpt_sha,
        "checkpoint_epoch": ckpt.get("epoch"),
        "load_strategy": cfg.checkpoint.load_strategy,
        "model_class": ckpt["model_class"],
        "input": str(data_path),
        "input_sha256": file_sha256(data_path),
        "code_version": code_version(),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def labelled(values: np.ndarray, names: list[str], cardinalities_path, categorical) -> pd.DataFrame:
    """The prediction table with categorical class indices mapped back to their labels."""
    frame = pd.DataFrame(values, columns=names)
    cats = [c for c in categorical if c in names]
    if cats:
        mappings = load_cardinalities(cardinalities_path, cats)
        for col in cats:
            labels = np.empty(len(mappings[col]), dtype=object)
            for label, idx in mappings[col].items():
                labels[idx] = label
            frame[col] = labels[frame[col].to_numpy().astype(np.int64)]
    return frame
