"""Content hashing of inputs: alchemi_core.io.file_sha256 against `sha256sum`.

A file of 512 MB (128 MB with --quick), in the page cache for every side:
  full hash   file_sha256 with the memo off, GB/s against sha256sum's GB/s (reported)
  unchanged   file_sha256 of the same unchanged file with the memo on: answered from the
              memo by (path, device, inode, size, mtime_ns), no read; target <= 0.01x the
              time of a full hash
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from common import env, interleaved, median, row, skipped

from alchemi_core import io


def run(quick: bool = False) -> list[dict]:
    size, rounds = ((128 if quick else 512) << 20), (3 if quick else 5)
    with tempfile.TemporaryDirectory(prefix="alchemi-bench-hash-") as tmp:
        f = Path(tmp) / "data.bin"
        with open(f, "wb") as fh:
            for _ in range(size >> 24):
                fh.write(os.urandom(1 << 24))
        past = f.stat().st_mtime_ns - 60 * 10**9  # older than the memo's 2 s racy window
        os.utime(f, ns=(past, past))
        with env("ALCHEMI_HASH_CACHE", "0"):
            sides = {"alchemi": lambda: io.file_sha256(f)}
            if shutil.which("sha256sum"):
                sides["sha256sum"] = lambda: subprocess.run(
                    ["sha256sum", str(f)], check=True, capture_output=True
                )
            t = interleaved(sides, rounds)
        with env("ALCHEMI_HASH_CACHE", str(Path(tmp) / "memo")):
            io.file_sha256(f)  # fills the memo
            memo = interleaved({"memo": lambda: io.file_sha256(f)}, rounds * 20)["memo"]
    gb = size / 1e9
    full = median(t["alchemi"])
    rows = []
    if "sha256sum" in t:
        rows.append(row("hash full read (GB/s)", gb / median(t["sha256sum"]), gb / full, "GB/s",
                        None, f"{size >> 20} MB in page cache; baseline sha256sum"))  # fmt: skip
    else:
        rows.append(skipped("hash full read (GB/s)", "no sha256sum on PATH"))
    note = f"memo hit {median(memo) * 1e6:.0f} us vs full hash {full:.2f}s"
    rows.append(row("hash unchanged input (memo)", full, median(memo), "s", "<= 0.01", note))
    return rows
