"""Tiny synthetic spectra and sensors for the alignment tests (written to tmp folders)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from alchemi_core.alignment.spectral import gaussian_responses

ROOT = Path(__file__).resolve().parents[2]
WL = np.arange(400.0, 2401.0, 20.0)


def synthetic_lab(n: int = 96, seed: int = 0, gap=(1340.0, 1460.0)) -> pd.DataFrame:
    """Smooth spectra: a slope plus a few Gaussian absorptions; NaN over one gap."""
    rng = np.random.default_rng(seed)
    x = (WL - 400) / 2000
    rows = []
    for _ in range(n):
        s = 0.2 + 0.4 * rng.random() * x + 0.1 * rng.random()
        for _ in range(3):
            c, w, d = rng.uniform(450, 2350), rng.uniform(20, 150), rng.uniform(0.02, 0.15)
            s = s - d * np.exp(-0.5 * ((WL - c) / w) ** 2)
        rows.append(np.clip(s, 0.01, 1.0))
    values = np.array(rows)
    values[:, (WL > gap[0]) & (WL < gap[1])] = np.nan
    df = pd.DataFrame(values, columns=[f"{w:g}" for w in WL])
    df.insert(0, "id", [f"s{i}" for i in range(n)])
    return df


def write_gaussian_sensor(path: Path, centres, fwhms) -> Path:
    pd.DataFrame(
        {"band": [f"b{i + 1}" for i in range(len(centres))], "centre_nm": centres, "fwhm_nm": fwhms}
    ).to_csv(path, index=False)
    return path


def write_response_sensor(path: Path, centres, fwhms) -> Path:
    wl, r = gaussian_responses(centres, fwhms)
    df = pd.DataFrame(r.T, columns=[f"B{i + 1}" for i in range(len(centres))])
    df.insert(0, "wavelength_nm", wl)
    df.to_csv(path, index=False)
    return path


def write_dataset(folder: Path, n: int = 96) -> dict[str, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    lab = folder / "lab.csv"
    synthetic_lab(n).to_csv(lab, index=False)
    return {
        "lab": lab,
        "msi": write_gaussian_sensor(
            folder / "msi.csv", [490, 560, 665, 842, 1610, 2190], [65, 35, 30, 115, 90, 180]
        ),
        "oli": write_response_sensor(
            folder / "oli.csv", [480, 560, 655, 865, 1610, 2200], [60, 57, 37, 28, 85, 187]
        ),
        "unseen": write_gaussian_sensor(
            folder / "unseen.csv",
            [510, 620, 710, 900, 1250, 2050, 2300],
            [20, 20, 15, 40, 50, 60, 50],
        ),
    }


def tiny_config(folder: Path, out: Path, **changes) -> Path:
    """The shipped debug alignment config, pointed at the synthetic data set in `folder`."""
    files = write_dataset(folder)
    cfg = yaml.safe_load((ROOT / "configs/phase2/alignment_debug.yaml").read_text())
    cfg["data"].update(
        lab_path=str(files["lab"]),
        sensor_paths=[str(files["msi"]), str(files["oli"])],
        eval_sensor_paths=[str(files["unseen"])],
    )
    cfg["experiment"]["output_dir"] = str(out)
    for dotted, value in changes.items():
        node = cfg
        *parents, last = dotted.split(".")
        for p in parents:
            node = node.setdefault(p, {})
        node[last] = value
    path = folder / "align.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path
