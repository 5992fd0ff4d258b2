"""Config kinds in one place: how to recognise a file, load it, check it deeply and show it.

`alchemi config validate|show` find a file's kind here: by its folder name under configs/
(`vae`, `sae`, `extract`, `predict`, `pipelines`, `sweeps`, or a registered kind's name), else
by the first detector that accepts its top-level keys. Another stack registers its kind with
`register_kind(Kind("alignment", detect=lambda d: "tokenizer" in d, load=..., check=...))`.
"""

from __future__ import annotations

from pathlib import Path

from alchemi_core.config.kind import Kind
from alchemi_core.config.loading import read_yaml
from alchemi_core.errors import ConfigError

KINDS: dict[str, Kind] = {}
_loaded = False


def register_kind(kind: Kind) -> None:
    KINDS[kind.name] = kind


def _builtin() -> None:
    global _loaded
    if not _loaded:
        from alchemi_core.alignment import config as alignment
        from alchemi_core.config import views

        for kind in [*views.KINDS, Kind(**alignment.KIND)]:
            KINDS.setdefault(kind.name, kind)
        _loaded = True


def kind_of(path: str | Path, data: dict | None = None) -> Kind:
    """The kind of a config file, from its folder name or its keys."""
    _builtin()
    path = Path(path)
    for kind in KINDS.values():
        if path.parent.name in kind.folders or path.parent.name == kind.name:
            return kind
    data = read_yaml(path) if data is None else data
    for kind in sorted(KINDS.values(), key=lambda k: k.order):
        if kind.detect(data):
            return kind
    names = ", ".join(KINDS)
    raise ConfigError(f"cannot tell what kind of config this is (known kinds: {names})", path)


def get_kind(name: str) -> Kind:
    _builtin()
    if name not in KINDS:
        from alchemi_core.hints import did_you_mean

        raise ConfigError(
            f"unknown config kind {name!r}{did_you_mean(name, KINDS)}; known: {', '.join(KINDS)}",
            "--kind",
        )
    return KINDS[name]
