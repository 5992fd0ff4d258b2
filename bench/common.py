"""Shared bench helpers: pinned threads, the real example data, interleaved timing, result rows."""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("ALCHEMI_PLOTS", "0")  # the end-of-run plot (~1 s) is not the loop

import contextlib  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import shlex  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402

import pyarrow as pa  # noqa: E402
import torch  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = Path(sys.argv[0]).resolve()  # before a script changes folder
sys.path.insert(0, str(ROOT))  # flows/ and tasks/ importable from a fresh clone
THREADS = 1
torch.set_num_threads(THREADS)  # both sides of every case run with the same thread count
pa.set_cpu_count(THREADS)
pa.set_io_thread_count(THREADS)


def diamonds_dir() -> Path:
    from alchemi_core.tabular.prepare import prepare

    out = ROOT / "data" / "diamonds"
    if not (out / "cardinalities.json").exists():
        prepare("diamonds", out)
    return out


def timed(fn: Callable[[], object]) -> float:
    """Wall seconds of fn(), or the seconds fn returns when it times its own hot part."""
    t0 = time.perf_counter()
    own = fn()
    return own if isinstance(own, float) else time.perf_counter() - t0


def interleaved(
    sides: dict[str, Callable[[], object]], rounds: int, warmup: int = 1
) -> dict[str, list[float]]:
    """Seconds per call of each side: warm-up calls first (not kept), then `rounds` rounds in
    which the sides alternate order (A B, B A, ...), so drift on a shared machine hits both."""
    names = list(sides)
    for _ in range(warmup):
        for name in names:
            sides[name]()
    times: dict[str, list[float]] = {n: [] for n in names}
    for r in range(rounds):
        for name in names if r % 2 == 0 else reversed(names):
            times[name].append(timed(sides[name]))
    return times


def median(values: list[float]) -> float:
    return statistics.median(values)


def row(
    case: str,
    baseline: float,
    alchemi: float,
    unit: str,
    target: str | None,
    note: str = "",
    ratio: float | None = None,
) -> dict:
    """One result: figures in `unit`, ratio = alchemi / baseline unless given, and whether
    the target (">= x" or "<= x"; None = reported only) is met."""
    baseline, alchemi = float(baseline), float(alchemi)
    ratio = float(alchemi / baseline if ratio is None else ratio)
    met = None
    if target:
        op, value = target.split()
        met = bool(ratio >= float(value) if op == ">=" else ratio <= float(value))
    return {
        "case": case,
        "baseline": round(baseline, 4),
        "alchemi": round(alchemi, 4),
        "unit": unit,
        "ratio": round(ratio, 3),
        "target": target or "-",
        "met": met,
        "note": note,
    }


def skipped(case: str, why: str) -> dict:
    return {"case": case, "baseline": None, "alchemi": None, "unit": "", "ratio": None,
            "target": "-", "met": None, "note": f"skipped: {why}"}  # fmt: skip


def fmt(v: object) -> str:
    if v is None:
        return "-"
    if isinstance(v, bool):
        return "yes" if v else "NO"
    if isinstance(v, float):
        return f"{v:,.3f}" if abs(v) < 100 else f"{v:,.0f}"
    return str(v)


def table(rows: list[dict], title: str) -> str:
    keys = list(rows[0])
    cells = [[fmt(r.get(k)) for k in keys] for r in rows]
    widths = [max(len(k), *(len(c[i]) for c in cells)) for i, k in enumerate(keys)]
    line = " | ".join(k.ljust(w) for k, w in zip(keys, widths, strict=True))
    sep = "-+-".join("-" * w for w in widths)
    body = "\n".join(
        " | ".join(c.ljust(w) for c, w in zip(cs, widths, strict=True)) for cs in cells
    )
    return f"{title}\n{line}\n{sep}\n{body}"


def stamp() -> dict:
    """When and on what a result was measured (the head of every bench/*.json)."""
    return {
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {
            "python": platform.python_version(),
            "torch": torch.__version__,
            "cpu": platform.processor() or platform.machine(),
        },
    }


def command(argv: list[str] | None = None) -> str:
    """The command line that produced a result, as it would be typed from the repo root."""
    script = SCRIPT.relative_to(ROOT) if SCRIPT.is_relative_to(ROOT) else SCRIPT
    args = sys.argv[1:] if argv is None else argv
    return f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', '')} python {shlex.join([str(script), *args])}"


def load() -> str:
    """The 1/5/15-minute load averages, for the source of a result measured on a shared machine."""
    return "load " + "/".join(f"{x:.1f}" for x in os.getloadavg())


def write_json(path: Path, data: dict) -> None:
    """A tracked result file, written whole (a temp file renamed over it)."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, default=float) + "\n")
    tmp.replace(path)


@contextlib.contextmanager
def env(name: str, value: str | None):
    """Set (or, with None, unset) an environment variable for the block."""
    saved = os.environ.get(name)
    if value is None:
        os.environ.pop(name, None)
    else:
        os.environ[name] = value
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = saved
