"""`alchemi extract` for the alignment stack: a tower of a trained run embeds a spectra file.

Config (detected by its `tower` key):
  run: <alignment run folder>      checkpoint: best | last
  tower: sensor | lab
  input_path: readings table (one column per band of `sensor_path`; optional `id`) for the
              sensor tower, or a lab table for the lab tower
  sensor_path: the sensor's response table (sensor tower only)
  output: <file>.npy               float32 [rows, embed_dim], with a .json sidecar
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np
import torch
from pydantic import field_validator, model_validator

from alchemi_core import runtime
from alchemi_core.alignment import evaluation as ev
from alchemi_core.alignment import spectral
from alchemi_core.config.schema import Strict
from alchemi_core.errors import DataError
from alchemi_core.io import file_sha256
from alchemi_core.output_plan import OutputPlan
from alchemi_core.version import code_version


class AlignExtractConfig(Strict):
    run: str  # an alignment run folder
    checkpoint: Literal["best", "last"] = "best"  # best_model.pt or last_model.pt
    tower: Literal["sensor", "lab"]  # which tower embeds
    input_path: str  # readings (sensor tower: one column per band) or lab spectra
    sensor_path: str | None = None  # the sensor's response table (sensor tower only)
    output: str  # <file>.npy, float32 [rows, embed_dim], with a .json sidecar

    @field_validator("output")
    @classmethod
    def _npy(cls, v: str) -> str:
        if not v.endswith(".npy"):
            raise ValueError("must end in .npy")
        return v

    @model_validator(mode="after")
    def _sensor(self) -> AlignExtractConfig:
        if self.tower == "sensor" and not self.sensor_path:
            raise ValueError("sensor_path: the sensor tower needs the sensor's responses")
        return self


def is_alignment(data: dict) -> bool:
    return isinstance(data, dict) and "tower" in data


def _readings(path: str, sensor: spectral.Sensor) -> torch.Tensor:
    df = spectral.read_table(path, "readings")
    missing = [b for b in sensor.bands if b not in df.columns]
    if missing:
        raise DataError(f"no column for band {missing[0]!r} of {sensor.name}", path, missing[0])
    values = spectral.numbers(df, sensor.bands, path, "reading", gaps=True)  # NaN: missing band
    return torch.from_numpy(values.astype(np.float32))


def extract(cfg: AlignExtractConfig, source: str) -> dict:
    from alchemi_core.alignment.api import lab_tokens, load_run
    from alchemi_core.inference.outputs import write_output

    ckpt_path = Path(cfg.run) / "checkpoints" / f"{cfg.checkpoint}_model.pt"
    inputs = {"config": source, "input_path": cfg.input_path, "sensor_path": cfg.sensor_path}
    plan = OutputPlan(source, {**inputs, "checkpoint": ckpt_path})
    plan.add_input(Path(cfg.run) / "config.yaml", "run")
    plan.add(cfg.output, "output", sidecar=True)
    sensor = lab = None  # the inputs first: cheap, and the user's to fix
    if cfg.tower == "sensor":
        sensor = spectral.load_sensor(cfg.sensor_path)
        values = _readings(cfg.input_path, sensor)
    else:
        lab = spectral.load_lab(cfg.input_path)
    _, model, ckpt = load_run(cfg.run, cfg.checkpoint)
    rt = runtime.Runtime(0, "default", torch.device("cpu"), torch.float32, None, False)
    if sensor is not None:
        feats = ev.band_feats(model, sensor, rt.device)
    else:
        feats, values = lab_tokens(model, ckpt, lab, rt.device)
    emb, _ = ev.embed(model, cfg.tower, feats, values, rt, sensor=sensor)
    meta = {
        "kind": "embeddings",
        "tower": cfg.tower,
        "shape": list(emb.shape),
        "dtype": "float32",
        "checkpoint": str(ckpt_path),
        "checkpoint_epoch": ckpt.get("epoch"),
        "input": cfg.input_path,
        "input_sha256": file_sha256(cfg.input_path),
        "code_version": code_version(),
    }
    with plan:
        out = write_output(plan, cfg.output, emb, meta, None)
    return {cfg.tower: {**out, "shape": list(emb.shape)}}
