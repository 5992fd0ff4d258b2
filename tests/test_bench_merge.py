"""bench/run.py --merge: the cases run now replace their old rows, the rest keep their dates."""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
import run as bench_run  # noqa: E402


def test_merge_keeps_the_rows_not_run_with_their_own_date(tmp_path, monkeypatch):
    out = tmp_path / "results.json"
    old = {"mode": "full", "when": "2026-11-22", "rows": [
        {"case": "train SAE", "ratio": 0.9}, {"case": "ingest csv", "ratio": 1.7}]}  # fmt: skip
    out.write_text(json.dumps(old))
    monkeypatch.setitem(bench_run.CASES, "fake", "fake_case")
    fake = tmp_path / "fake_case.py"
    fake.write_text(
        "def run(quick):\n    return [{'case': 'train SAE', 'ratio': 1.01, 'met': True}]\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    assert bench_run.main(["--only", "fake", "--quick", "--out", str(out), "--merge"]) == 0
    got = json.loads(out.read_text())
    assert [r["case"] for r in got["rows"]] == ["train SAE", "ingest csv"]
    assert got["rows"][0]["ratio"] == 1.01 and got["rows"][0]["mode"] == "quick"
    assert got["rows"][1] == {"when": "2026-11-22", "mode": "full", "case": "ingest csv",
                              "ratio": 1.7}  # fmt: skip
    assert got["when"] == "per row" and got["mode"] == "full/quick"
