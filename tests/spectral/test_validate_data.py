"""`alchemi config validate` on alignment and MAE configs reads the spectral tables' headers."""

from __future__ import annotations

import pandas as pd
import pytest
import yaml

from alchemi_core.cli import main
from tests.spectral.helpers import ROOT, tiny_config


def _validate(path, capsys) -> tuple[int, str]:
    code = main(["config", "validate", str(path)])
    out, err = capsys.readouterr()
    assert (out if code else err) == ""
    return code, err.strip()


def _edit(cfg_path, **data) -> None:
    cfg = yaml.safe_load(cfg_path.read_text())
    cfg["data"].update(data)
    cfg_path.write_text(yaml.safe_dump(cfg))


def test_alignment_config_with_good_data_validates(tmp_path, capsys):
    cfg = tiny_config(tmp_path / "d", tmp_path / "runs")
    assert _validate(cfg, capsys) == (0, "")
    assert not (tmp_path / "runs").exists()  # validate trains nothing


def test_missing_sensor_file_names_its_key(tmp_path, capsys):
    cfg = tiny_config(tmp_path / "d", tmp_path / "runs")
    gone = tmp_path / "d" / "oli.csv"
    gone.unlink()
    code, err = _validate(cfg, capsys)
    assert code == 2
    assert err == f"error: {gone}: data.sensor_paths.1: sensor file not found"


def test_lab_column_that_is_not_a_wavelength(tmp_path, capsys):
    cfg = tiny_config(tmp_path / "d", tmp_path / "runs")
    lab = tmp_path / "d" / "lab.csv"
    df = pd.read_csv(lab).rename(columns={"420": "band_420"})
    df.to_csv(lab, index=False)
    code, err = _validate(cfg, capsys)
    assert code == 2
    assert err.startswith(f"error: {lab}: data.lab_path: column 'band_420'")
    assert err.count("\n") == 0


def test_lab_parquet_schema_is_checked(tmp_path, capsys):
    cfg = tiny_config(tmp_path / "d", tmp_path / "runs")
    lab = tmp_path / "d" / "lab.parquet"
    df = pd.read_csv(tmp_path / "d" / "lab.csv")
    df[["id", "800", "600"]].to_parquet(lab)  # wavelengths out of order
    _edit(cfg, lab_path=str(lab))
    code, err = _validate(cfg, capsys)
    assert (code, err) == (2, f"error: {lab}: data.lab_path: wavelength columns must increase")


@pytest.mark.parametrize(
    "header, what",
    [
        ("wavelength_nm\n", "no response columns next to wavelength_nm"),
        ("band,centre_nm,width\n", "missing column 'fwhm_nm'"),
    ],
)
def test_bad_eval_sensor_header(tmp_path, capsys, header, what):
    cfg = tiny_config(tmp_path / "d", tmp_path / "runs")
    bad = tmp_path / "bad.csv"
    bad.write_text(header + "1,2,3\n")
    _edit(cfg, eval_sensor_paths=[str(tmp_path / "d" / "unseen.csv"), str(bad)])
    code, err = _validate(cfg, capsys)
    assert code == 2
    assert err.startswith(f"error: {bad}: data.eval_sensor_paths.1: {what}")


def test_pairs_file_needs_id_and_the_first_sensors_bands(tmp_path, capsys):
    cfg = tiny_config(tmp_path / "d", tmp_path / "runs")
    d = tmp_path / "d"
    _edit(cfg, sensor_paths=[str(d / "oli.csv"), str(d / "msi.csv")])  # oli: B1..B6 in header
    pairs = tmp_path / "pairs.csv"
    pairs.write_text("id,B1,B2,B3,B4,B5\ns0,1,2,3,4,5\n")
    _edit(cfg, pairs_path=str(pairs))
    code, err = _validate(cfg, capsys)
    assert (code, err) == (2, f"error: {pairs}: data.pairs_path: missing column 'B6'")
    pairs.write_text("id,B1,B2,B3,B4,B5,B6\ns0,1,2,3,4,5,6\n")
    assert _validate(cfg, capsys) == (0, "")
    _edit(cfg, pairs_path=str(tmp_path / "none.csv"))
    code, err = _validate(cfg, capsys)
    assert (code, err) == (
        2,
        f"error: {tmp_path / 'none.csv'}: data.pairs_path: pairs file not found",
    )


def test_mae_config_reads_the_lab_header(tmp_path, capsys):
    cfg = yaml.safe_load((ROOT / "configs/train.mae.yaml").read_text())
    lab = tmp_path / "lab.csv"
    lab.write_text("id,500,x600\ns0,0.1,0.2\n")
    cfg["train"]["data"] = str(lab)
    path = tmp_path / "mae.yaml"
    path.write_text(yaml.safe_dump(cfg))
    code, err = _validate(path, capsys)
    assert code == 2
    assert err.startswith(f"error: {lab}: train.data: column 'x600'")
    lab.write_text("id,500,600\ns0,0.1,0.2\n")
    assert _validate(path, capsys) == (0, "")
