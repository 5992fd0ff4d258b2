"""What a config kind is: how to detect, load, check and show one."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass
class Kind:
    name: str
    detect: Callable[[dict], bool]  # the file's top-level mapping -> is it this kind?
    load: Callable[[str, list[str]], Any]  # (path, --set overrides) -> validated config
    check: Callable[[Any, str], None] | None = None  # deep: classes, params, data files
    show: Callable[[Any], dict] | None = None  # resolved config as a plain dict
    folders: tuple[str, ...] = ()  # configs/<folder>/ names that mean this kind
    order: int = 50  # detectors run lowest first; the plain training config (100) comes last
    schema: type | None = None  # the pydantic model of the file (for --set key checks)
