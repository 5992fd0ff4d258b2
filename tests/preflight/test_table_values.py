"""Wrong input accepted silently, data side, and the tracebacks of bad values: a duplicated
column name or wavelength, a non-finite or non-numeric value, a cardinalities file nested past
reason. One line naming the file and the column, exit 2, in every command that reads the file
(the pre-flight of validate and the flows reads headers, sensors and readings, not lab values)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.preflight.workspace import assert_one_line, rewrite_header, set_cell

TABULAR = [
    ("train", "training"),
    ("validate", "training"),
    ("flows/train.py", "training"),
    ("validate", "pipeline"),
    ("flows/vae_sae.py", "pipeline"),
    ("flows/sweep.py", "sweep"),
]
LAB_READERS = [
    ("align train", "alignment"),
    ("validate", "alignment"),
    ("flows/alignment.py", "alignment"),
    ("align eval", None),
    ("extract", None),  # the lab tower of an alignment run
    ("pretrain-mae", "mae"),
    ("validate", "mae"),
]
SENSOR_READERS = [c for c in LAB_READERS if c[1] == "alignment" or c[0] == "align eval"]


def run(ws, command, kind):
    if command == "align eval":
        return ws.align_eval()
    if command == "extract":
        return ws.align_extract("lab", ws.spectra / "lab.csv")
    return ws.run(command, kind)


@pytest.mark.parametrize(("command", "kind"), TABULAR)
def test_duplicated_csv_header(ws, command, kind):
    """pandas would read the second as `bill_length_mm.1`, pyarrow keep the first."""
    data = ws.penguins / "train.csv"
    rewrite_header(data, lambda h: [("bill_length_mm" if c == "bill_depth_mm" else c) for c in h])
    res = ws.run(command, kind)
    assert_one_line(res, "data/penguins/train.csv: bill_length_mm: column appears twice")


@pytest.mark.parametrize("command", ["train", "validate"])
def test_duplicated_parquet_column(ws, command):
    df = pd.read_csv(ws.penguins / "train.csv")
    table = pa.Table.from_pandas(df, preserve_index=False)
    names = ["body_mass_g" if n == "flipper_length_mm" else n for n in table.column_names]
    pq.write_table(table.rename_columns(names), ws.penguins / "train.parquet")
    ws.edit("training", train__data_path="./data/penguins/train.parquet")
    res = ws.run(command, "training")
    assert_one_line(res, "train.parquet: body_mass_g: column appears twice")


@pytest.mark.parametrize("spelling", ["400", "400.0"])
@pytest.mark.parametrize(("command", "kind"), LAB_READERS)
def test_duplicated_wavelength(ws, command, kind, spelling):
    """`400` twice (pandas renames it `400.1`, an increasing wavelength) or `400` and `400.0`."""
    rewrite_header(ws.spectra / "lab.csv", lambda h: [h[0], h[1], spelling, *h[3:]])
    res = run(ws, command, kind)
    assert_one_line(res, "lab.csv", spelling, "twice")


@pytest.mark.parametrize("command", ["align train", "align eval", "extract", "pretrain-mae"])
def test_infinite_reflectance(ws, command):
    """Was `"rmse": NaN` with exit 0 from align eval. NaN is a gap in a lab table; inf is not."""
    set_cell(ws.spectra / "lab.csv", "420", 3, "inf")
    res = run(ws, command, "mae" if command == "pretrain-mae" else "alignment")
    assert_one_line(res, "lab.csv: 420: reflectance value inf at row 3 is not a finite number")


@pytest.mark.parametrize("value", ["", "nan", "inf"])
@pytest.mark.parametrize(("command", "kind"), SENSOR_READERS)
def test_non_finite_fwhm(ws, command, kind, value):
    """Was a traceback (`arange: cannot compute length`)."""
    set_cell(ws.spectra / "msi.csv", "fwhm_nm", 1, value)
    res = run(ws, command, kind)
    assert_one_line(res, "msi.csv: fwhm_nm: FWHM value", "row 1 is not a finite number")


@pytest.mark.parametrize("value", ["high", "inf"])
@pytest.mark.parametrize("command", ["align train", "validate", "flows/alignment.py", "extract"])
def test_bad_measured_reading(ws, command, value):
    """Tower readings holding the string `high` were a traceback; NaN is a missing band."""
    lab = pd.read_csv(ws.spectra / "lab.csv")
    bands = pd.read_csv(ws.spectra / "msi.csv")["band"]
    rng = np.random.default_rng(0)
    pairs = pd.DataFrame(rng.random((len(lab), len(bands))), columns=bands)
    pairs.insert(0, "id", lab["id"])
    pairs = pairs.astype(object)
    pairs.loc[5, "b3"] = value
    pairs.loc[6, "b2"] = np.nan
    pairs.to_csv(ws.spectra / "pairs.csv", index=False)
    ws.edit("alignment", data__pairs_path=str(ws.spectra / "pairs.csv"))
    if command == "extract":  # the same table as the sensor tower's input
        res = ws.align_extract("sensor", ws.spectra / "pairs.csv")
    else:
        res = ws.run(command, "alignment")
    what = "reading values must be numbers" if value == "high" else "reading value inf at row 5"
    assert_one_line(res, f"pairs.csv: b3: {what}")


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_infinite_training_value(ws, fmt):
    """CSV and parquet columns: the loader names the column and the first bad row."""
    df = pd.read_csv(ws.penguins / "train.csv")
    df.loc[2, "flipper_length_mm"] = np.inf
    if fmt == "csv":
        df.to_csv(ws.penguins / "train.csv", index=False)
    else:
        df.to_parquet(ws.penguins / "train.parquet")
        ws.edit("training", train__data_path="./data/penguins/train.parquet")
    res = ws.run("train", "training")
    assert_one_line(res, f"train.{fmt}: flipper_length_mm:", "non-finite", "row 2")


@pytest.mark.parametrize(
    ("command", "kind"),
    [
        ("train", "training"),
        ("validate", "training"),
        ("flows/train.py", "training"),
        ("flows/vae_sae.py", "pipeline"),
    ],
)
@pytest.mark.parametrize("content", ["deep", "duplicate"])
def test_bad_cardinalities(ws, command, kind, content):
    """Nested 10,000 deep was a RecursionError; a category listed twice kept the last."""
    path = ws.penguins / "cardinalities.json"
    if content == "deep":
        path.write_text('{"species": ' + "[" * 10000 + "]" * 10000 + "}")
        expect = "nested too deeply"
    else:
        path.write_text(path.read_text().replace('"Biscoe": 0,', '"Biscoe": 0, "Biscoe": 1,'))
        expect = "appears twice"
    res = ws.run(command, kind)
    assert_one_line(res, "cardinalities.json", expect)
