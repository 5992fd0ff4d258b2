"""Every benchmark case in one table, and bench/results.json.

    python bench/run.py [--quick] [--only train,ingest,...] [--out bench/results.json]

Each case measures its own plain baseline in this same run (written in plain torch / bare
pyarrow / pandas / sha256sum, never calling alchemi's model or loss), warms up, repeats with
the two sides interleaved and takes the median. Ratio = alchemi / baseline in the case's unit;
the target says which way is better. Threads are pinned to the same count on both sides
(bench/common.py). Absolute figures depend on the machine and its load; the ratios are the
result. In full mode each case runs in a process of its own, so no threads, caches or memory
of one case weigh on the next (`--in-process` runs them all in this one; --quick always does, to
stay under two minutes). A case whose module is missing (the optional quality, mae_speed and alignment_quality cases)
is listed as skipped; a case that fails is listed with its error and the exit status is 1.
"""

from __future__ import annotations

import argparse
import importlib
import json
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import common  # noqa: E402  (pins threads before torch work starts)

# name -> module with run(quick) -> rows
CASES = {
    "train": "train_speed",
    "ingest": "ingest",
    "extract": "extract_speed",
    "hash": "hashing",
    "orchestration": "orchestration",
    "sweep": "sweep_cost",
    "gpu": "gpu",
    "quality": "quality",
    "mae": "mae_speed",
    "alignment": "alignment_quality",
}
OPTIONAL = {"quality", "mae", "alignment"}
FULL_ONLY = {"quality", "alignment"}  # they train models to convergence: minutes, not seconds


def run_case(name: str, quick: bool, named: bool) -> list[dict]:
    if quick and name in FULL_ONLY and not named:
        return [common.skipped(name, "full mode only (or --quick --only " + name + ")")]
    try:
        module = importlib.import_module(CASES[name])
        fn = module.run
    except (ImportError, AttributeError) as exc:
        if name not in OPTIONAL:
            raise
        return [common.skipped(name, f"bench/{CASES[name]}.py has no run(quick): {exc}")]
    rows = fn(quick)
    for r in rows:
        r.setdefault("group", name)
    return rows


def in_process(name: str, quick: bool, named: bool, failed: list[str]) -> list[dict]:
    try:
        return run_case(name, quick, named)
    except Exception as exc:  # noqa: BLE001  one failing case does not hide the others
        traceback.print_exc()
        failed.append(name)
        return [common.skipped(name, f"failed: {type(exc).__name__}: {exc}")]


def in_child(name: str, quick: bool, named: bool, failed: list[str]) -> list[dict]:
    """The case in a fresh process: no threads, caches or memory left by the cases before."""
    if quick and name in FULL_ONLY and not named:
        return run_case(name, quick, named)  # the "full mode only" row, nothing to run
    with tempfile.TemporaryDirectory(prefix="alchemi-bench-case-") as tmp:
        out = Path(tmp) / "rows.json"
        cmd = [sys.executable, str(Path(__file__).resolve()), "--only", name, "--out", str(out)]
        done = subprocess.run(cmd + (["--quick"] if quick else []), stdout=subprocess.DEVNULL)
        if done.returncode != 0:
            failed.append(name)
        if not out.exists():
            return [common.skipped(name, f"failed: its process exited {done.returncode}")]
        return json.loads(out.read_text())["rows"]


def merged(old: dict, new: list[dict]) -> list[dict]:
    """`old`'s rows with each case run now replaced by its new row, in old's order (new cases
    at the end); an old row without a date takes its file's."""
    fresh = {r["case"]: r for r in new}
    dated = {"when": old.get("when"), "mode": old.get("mode")}
    rows = [fresh.pop(r["case"], {**dated, **r}) for r in old["rows"]]
    return rows + list(fresh.values())


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="small sizes, few rounds (< 2 min)")
    p.add_argument("--only", default="", help="comma-separated cases: " + ", ".join(CASES))
    p.add_argument("--out", default=str(HERE / "results.json"))
    p.add_argument("--in-process", action="store_true",
                   help="run every case in this process (full mode default: each in its own)")  # fmt: skip
    p.add_argument("--merge", action="store_true",
                   help="keep --out's rows of the cases not run (each row keeps its own date)")  # fmt: skip
    args = p.parse_args(argv)
    names = [n for n in args.only.split(",") if n] or list(CASES)
    unknown = [n for n in names if n not in CASES]
    if unknown:
        print(f"error: --only: unknown case(s) {', '.join(unknown)}", file=sys.stderr)
        return 2
    t0, rows, failed = time.perf_counter(), [], []
    for name in names:
        start = time.perf_counter()
        print(f"-- {name} ...", file=sys.stderr, flush=True)
        if args.in_process or args.quick or len(names) == 1:  # quick: no process starts
            got = in_process(name, args.quick, bool(args.only), failed)
        else:
            got = in_child(name, args.quick, bool(args.only), failed)
        rows += got
        print(f"   {name}: {time.perf_counter() - start:.0f}s", file=sys.stderr, flush=True)
    seconds = time.perf_counter() - t0
    shown = [{k: r.get(k) for k in ("case", "baseline", "alchemi", "unit", "ratio", "target",
                                    "met", "note")} for r in rows]  # fmt: skip
    mode = "quick" if args.quick else "full"
    print(common.table(shown, f"alchemi bench ({mode}, {common.THREADS} thread, {seconds:.0f}s)"))
    head = common.stamp()
    for r in rows:
        r["when"], r["mode"] = head["when"], mode
    if args.merge and Path(args.out).exists():
        rows = merged(json.loads(Path(args.out).read_text()), rows)
        head["when"] = "per row"
        mode = "/".join(sorted({r["mode"] for r in rows}))
    result = {"mode": mode, "threads": common.THREADS, "seconds": round(seconds, 1), **head,
              "command": common.command(argv), "rows": rows}  # fmt: skip
    common.write_json(Path(args.out), result)
    missed = [r["case"] for r in rows if r.get("met") is False]
    print(f"targets missed: {', '.join(missed) or 'none'}; written {args.out}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
