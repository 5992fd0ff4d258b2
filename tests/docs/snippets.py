"""Fenced blocks of the docs and the README, by language."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FENCE = re.compile(r"^(?P<indent>[ \t]*)```(?P<lang>[\w-]*)[^\n]*\n(?P<body>.*?)^(?P=indent)```",
                   re.M | re.S)  # fmt: skip
PAGES = sorted((ROOT / "docs").rglob("*.md")) + [ROOT / "README.md"]


def blocks(page: Path, lang: str) -> list[str]:
    """The bodies of the page's ```lang blocks, in order, indentation removed."""
    out = []
    for m in FENCE.finditer(page.read_text()):
        if m["lang"] == lang:
            indent = len(m["indent"])
            out.append("".join(line[indent:] for line in m["body"].splitlines(keepends=True)))
    return out
