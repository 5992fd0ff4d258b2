"""Ingest: a table file into training tensors, alchemi against bare pyarrow and bare pandas.

1,000,000 rows x 20 columns (16 float, 4 string categoricals with 5..100 levels), as CSV and
as parquet (row groups of 64k rows). Every side ends with the same tensors: float32 [n, 16]
and int64 category codes [n, 4] in cardinalities.json's numbering.
  pyarrow  read (float32 and dictionary types for CSV), per-column to_numpy, np.stack,
           codes by looking each dictionary value up once
  pandas   read_csv / read_parquet, .to_numpy(float32), pd.Categorical codes
  alchemi  alchemi_core.tabular.loader.read_tabular (what TabularDataLoader runs)
Time: median of interleaved rounds; target <= 1.2x the faster bare side (--quick: 200k rows).
Threads: every side runs in this one process with common.py's pins (torch 1, pyarrow's CPU and
I/O pools 1). pandas' C parser uses one thread; bare pyarrow parses on its 1-thread pool (its
I/O thread reads ahead); alchemi reads with use_threads=False, as `alchemi train` does whatever
global.threads says (that setting sets torch's threads only), so alchemi gets no extra thread.
Peak memory, always at 1M rows (at 200k the libraries' fixed reserve dominates): each
side runs in a fresh process, reads a 1,000-row file of the same kind first (the libraries'
one-time set-up: thread pools, allocator arenas), then the peak RSS is reset and its rise over
the load is compared with the size of the final tensors (target <= 2x).

  python bench/ingest.py --peak SIDE PATH CARDS   (the subprocess)
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import torch
from common import interleaved, median, row

from alchemi_core.tabular.loader import read_tabular

warnings.filterwarnings("ignore", "The given NumPy array is not writable")
NUM = [f"x{i}" for i in range(16)]
CAT = ["c5", "c12", "c30", "c100"]
PEAK_ROWS = 1_000_000  # peak memory is always measured at the target's size


def make(folder: Path, rows: int) -> tuple[Path, Path, Path]:
    rng = np.random.default_rng(0)
    cols = {c: rng.normal(size=rows) for c in NUM}
    levels = {c: [f"{c}_{v}" for v in range(int(c[1:]))] for c in CAT}
    for c in CAT:
        cols[c] = np.array(levels[c])[rng.integers(0, len(levels[c]), rows)]
    table = pa.table(cols)
    csv, parquet, cards = folder / "t.csv", folder / "t.parquet", folder / "cards.json"
    pacsv.write_csv(table, csv)
    pq.write_table(table, parquet, row_group_size=1 << 16)
    pacsv.write_csv(table.slice(0, 1000), warm_path(csv))  # library warm-up for the peak
    pq.write_table(table.slice(0, 1000), warm_path(parquet))
    cards.write_text(json.dumps({c: {v: i for i, v in enumerate(levels[c])} for c in CAT}))
    return csv, parquet, cards


def warm_path(path: Path) -> Path:
    return path.with_name(f"warm{path.suffix}")


def lookup(values: list, mapping: dict) -> np.ndarray:
    return np.array([mapping[v] for v in values], dtype=np.int64)


def bare_pyarrow(path: Path, cards: dict) -> dict:
    if path.suffix == ".csv":
        types = {c: pa.float32() for c in NUM} | {
            c: pa.dictionary(pa.int32(), pa.string()) for c in CAT
        }
        table = pacsv.read_csv(path, convert_options=pacsv.ConvertOptions(column_types=types))
    else:
        table = pq.read_table(path, read_dictionary=CAT)
    num = np.stack([table.column(c).to_numpy().astype(np.float32, copy=False) for c in NUM], 1)
    codes = []
    for c in CAT:
        parts = [lookup(ch.dictionary.to_pylist(), cards[c])[ch.indices.to_numpy()]
                 for ch in table.column(c).chunks]  # fmt: skip
        codes.append(np.concatenate(parts))
    return {"numerical": torch.from_numpy(num), "categorical": torch.from_numpy(np.stack(codes, 1))}


def bare_pandas(path: Path, cards: dict) -> dict:
    if path.suffix == ".csv":
        df = pd.read_csv(
            path, dtype={**dict.fromkeys(NUM, np.float32), **dict.fromkeys(CAT, "category")}
        )
    else:
        df = pd.read_parquet(path)
    num = df[NUM].to_numpy(np.float32)
    codes = [pd.Categorical(df[c], categories=list(cards[c])).codes.astype(np.int64) for c in CAT]
    return {"numerical": torch.from_numpy(num), "categorical": torch.from_numpy(np.stack(codes, 1))}


def alchemi(path: Path, cards_path: Path) -> dict:
    return read_tabular(path, NUM, CAT, [], str(cards_path))[0]


def side_fn(side: str, path: Path, cards_path: Path):
    cards = json.loads(cards_path.read_text())
    if side == "alchemi":
        return lambda: alchemi(path, cards_path)
    return lambda: (bare_pyarrow if side == "pyarrow" else bare_pandas)(path, cards)


def peak(side: str, path: Path, cards_path: Path) -> tuple[int, int]:
    """(rise of peak RSS in bytes, bytes of the final tensors), measured in a fresh process."""
    out = subprocess.run(
        [sys.executable, __file__, "--peak", side, str(path), str(cards_path)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    rise, size = out.stdout.split()
    return int(rise), int(size)


def run(quick: bool = False) -> list[dict]:
    rows_n, rounds = (200_000, 3) if quick else (PEAK_ROWS, 5)  # 5: a steadier median when shared
    out = []
    with tempfile.TemporaryDirectory(prefix="alchemi-bench-ingest-") as tmp:
        csv, parquet, cards = make(Path(tmp), rows_n)
        for path in (csv, parquet):
            fmt_ = path.suffix[1:]
            sides = {s: side_fn(s, path, cards) for s in ("pyarrow", "pandas", "alchemi")}
            ref = sides["pyarrow"]()
            got = sides["alchemi"]()
            assert all(torch.equal(ref[k], got[k]) for k in ref), "alchemi's tensors differ"
            t = interleaved(sides, rounds)
            best = min(("pyarrow", "pandas"), key=lambda s: median(t[s]))
            note = (f"{rows_n:,} rows; faster bare side: {best} "
                    f"(pyarrow {median(t['pyarrow']):.2f}s, pandas {median(t['pandas']):.2f}s)")  # fmt: skip
            out.append(
                row(f"ingest {fmt_}", median(t[best]), median(t["alchemi"]), "s", "<= 1.2", note)
            )
        if rows_n != PEAK_ROWS:  # the peak at the target's size: at 200k rows the libraries'
            peak_dir = Path(tmp) / "peak"  # fixed reserve (~25-80 MB) outweighs 18 MB of tensors
            peak_dir.mkdir()
            csv, parquet, cards = make(peak_dir, PEAK_ROWS)
        for path in (csv, parquet):
            rise, size = peak("alchemi", path, cards)
            bare = {s: peak(s, path, cards)[0] for s in ("pyarrow", "pandas")}
            note = (f"{PEAK_ROWS:,} rows; peak rise {rise / 2**20:.0f} MB for {size / 2**20:.0f} MB "
                    f"of tensors; bare pyarrow {bare['pyarrow'] / size:.1f}x, "
                    f"pandas {bare['pandas'] / size:.1f}x")  # fmt: skip
            out.append(
                row(
                    f"ingest {path.suffix[1:]} peak memory",
                    size / 2**20,
                    rise / 2**20,
                    "MB",
                    "<= 2.0",
                    note,
                )
            )
    return out


def _rss_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/self/status")


def _peak_main(side: str, path: str, cards: str) -> None:
    """Prints the rise of peak RSS over the load (bytes) and the tensors' size (bytes)."""
    fn = side_fn(side, Path(path), Path(cards))
    side_fn(side, warm_path(Path(path)), Path(cards))()  # one-time library set-up, not the data
    try:  # reset the peak to the current RSS (Linux >= 4.0), so imports do not hide the load
        Path("/proc/self/clear_refs").write_text("5")
        before, field = _rss_kb("VmRSS"), "VmHWM"
    except OSError:
        before, field = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, None
    tensors = fn()
    after = _rss_kb(field) if field else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    size = sum(t.numel() * t.element_size() for t in tensors.values())
    print((after - before) * 1024, size)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--peak"]:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        _peak_main(*sys.argv[2:5])
    else:
        from common import table

        print(table(run("--quick" in sys.argv), "ingest"))
