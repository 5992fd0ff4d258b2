"""Name -> class registries for models, losses and data loaders."""

from __future__ import annotations

import difflib
from collections.abc import Callable
from typing import Any

from alchemi_core.errors import ConfigError


class Registry:
    def __init__(self, kind: str):
        self.kind = kind
        self._items: dict[str, Any] = {}

    def register(self, name: str | None = None) -> Callable[[Any], Any]:
        def deco(obj: Any) -> Any:
            key = name or obj.__name__
            if key in self._items and self._items[key] is not obj:
                raise ValueError(
                    f"{self.kind} {key!r} is already registered ({self._items[key]!r})"
                )
            self._items[key] = obj
            return obj

        return deco

    def get(self, name: str, file: str | None = None, key: str | None = None) -> Any:
        if name not in self._items:
            known = ", ".join(sorted(self._items)) or "none"
            hint = difflib.get_close_matches(name, list(self._items), n=1)
            extra = f" (did you mean {hint[0]!r}?)" if hint else ""
            raise ConfigError(f"unknown {self.kind} {name!r}{extra}; known: {known}", file, key)
        return self._items[name]

    def names(self) -> list[str]:
        return sorted(self._items)

    def __contains__(self, name: str) -> bool:
        return name in self._items


MODELS = Registry("model")
LOSSES = Registry("loss")
DATALOADERS = Registry("dataloader")

register_model = MODELS.register
register_loss = LOSSES.register
register_dataloader = DATALOADERS.register
