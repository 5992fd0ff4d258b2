"""The sweep schema: a pipeline, a grid and/or seeded random ranges, an objective."""

from __future__ import annotations

import math
import random
from typing import Any, Literal

from pydantic import Field, PositiveInt, field_validator, model_validator

from alchemi_core.config.schema import Seed, Strict


class Distribution(Strict):
    """A random-sampling range: `choices`, or `low`/`high` (optionally `log`, `type: int`)."""

    choices: list[Any] | None = None  # pick one of these
    low: float | None = None  # lower end of the range
    high: float | None = None  # upper end of the range
    log: bool = False  # sample uniformly in log space
    type: Literal["float", "int"] = "float"  # int: rounded to a whole number

    @model_validator(mode="after")
    def _one_kind(self) -> Distribution:
        if self.choices is not None:
            if not self.choices:
                raise ValueError("choices must not be empty")
            if self.low is not None or self.high is not None:
                raise ValueError("give either choices or low/high, not both")
            return self
        if self.low is None or self.high is None:
            raise ValueError("give choices, or both low and high")
        if self.low > self.high:
            raise ValueError(f"low {self.low} is more than high {self.high}")
        if self.log and self.low <= 0:
            raise ValueError("log sampling needs low > 0")
        return self

    def sample(self, rng: random.Random) -> Any:
        if self.choices is not None:
            return rng.choice(self.choices)
        if self.type == "int":
            return rng.randint(int(self.low), int(self.high))
        if self.log:
            return math.exp(rng.uniform(math.log(self.low), math.log(self.high)))
        return rng.uniform(self.low, self.high)


def check_staged_keys(keys: dict[str, Any]) -> dict[str, Any]:
    for key, value in keys.items():
        if not key.startswith(("vae.", "sae.")) or key.count(".") < 2:
            raise ValueError(f"{key!r} must be a dotted key under vae. or sae.")
        if isinstance(value, list) and not value:
            raise ValueError(f"{key!r} has no values")
    return keys


class RandomSearch(Strict):
    """Random sampling of parameters."""

    samples: PositiveInt  # trials drawn
    seed: Seed = 0  # seed of the draws
    params: dict[str, Distribution]  # vae.* / sae.* dotted key -> distribution

    _keys = field_validator("params")(check_staged_keys)


class Objective(Strict):
    """The metric the sweep ranks trials by."""

    metric: str = "sae.loss"  # a stage's validation metric: sae.loss, sae.fve, vae.loss...
    direction: Literal["min", "max"] = "min"  # min: lower is better; max: higher

    @field_validator("metric")
    @classmethod
    def _staged(cls, v: str) -> str:
        if not v.startswith(("vae.", "sae.")):
            raise ValueError(f"{v!r}: name a stage's validation metric, e.g. sae.loss or vae.loss")
        return v


class Executor(Strict):
    """Where trials run: threads here (default), a Dask cluster, or runs of a deployment."""

    kind: Literal["threads", "dask", "deployment"] = "threads"  # here, Dask, or deployment runs
    address: str | None = None  # dask: scheduler address; unset = a temporary local cluster
    deployment: str = "sweep-trial/sweep-trial"  # deployment: "<flow name>/<deployment name>"
    timeout: PositiveInt | None = None  # deployment: seconds to wait for each trial run

    @model_validator(mode="after")
    def _fits_kind(self) -> Executor:
        if self.address and self.kind != "dask":
            raise ValueError(f"address: only for kind 'dask' (kind is {self.kind!r})")
        return self


class SweepConfig(Strict):
    """A sweep over a pipeline."""

    pipeline: str  # the pipeline file, relative to the sweep file
    output_dir: str  # results.csv, objective.png and the trials' runs go here
    # one grid (its product), or a list of grids whose products are joined (as scikit-learn's
    # ParameterGrid): e.g. k for topk in one, the L1 weight for relu in another
    grid: dict[str, list[Any]] | list[dict[str, list[Any]]] = Field(default_factory=dict)
    random: RandomSearch | None = None  # random sampling, besides or instead of the grid
    objective: Objective = Field(default_factory=Objective)
    concurrency: PositiveInt = 2  # trials at once
    executor: Executor = Field(default_factory=Executor)

    @field_validator("grid")
    @classmethod
    def _grid_keys(cls, grid):
        if isinstance(grid, list):
            if not grid or not all(grid):
                raise ValueError("a list of grids needs at least one grid, none of them empty")
            return [check_staged_keys(g) for g in grid]
        return check_staged_keys(grid)

    def grids(self) -> list[dict[str, list[Any]]]:
        """The grids whose products make the trials ([] when there is no grid)."""
        if isinstance(self.grid, list):
            return self.grid
        return [self.grid] if self.grid else []

    @model_validator(mode="after")
    def _some_trials(self) -> SweepConfig:
        if not self.grid and self.random is None:
            raise ValueError("give a grid, random sampling, or both")
        swept = {k for g in self.grids() for k in g}
        if self.random and (dupes := sorted(swept & set(self.random.params))):
            raise ValueError(f"{dupes[0]!r} is both in grid and in random.params")
        return self
