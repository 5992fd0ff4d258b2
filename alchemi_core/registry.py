"""Name -> class registries for models, losses and data loaders.

Each entry is a class and, optionally, the pydantic model of its params (`Params` subclass),
checked when a config is loaded: `@register_model("VAE", params=VAEParams)`. A class without
one still works; its params are then checked against its constructor's signature.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any, NamedTuple

from pydantic import BaseModel, ConfigDict

from alchemi_core.errors import ConfigError
from alchemi_core.hints import did_you_mean

BUILTINS = tuple(
    f"alchemi_core.tabular.{m}"
    for m in ("loader", "embeddings", "vae", "sae", "vae_loss", "sae_loss")
)


class Params(BaseModel):
    """Base for a registered class's params: unknown names refused, no type coercion."""

    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)


class Entry(NamedTuple):
    cls: Any
    params: type[BaseModel] | None


def load_builtins() -> None:
    """Import the built-in models, losses and loaders (they register on import; torch loads)."""
    for name in BUILTINS:
        importlib.import_module(name)


class Registry:
    def __init__(self, kind: str):
        self.kind = kind
        self._items: dict[str, Entry] = {}

    def register(
        self, name: str | None = None, params: type[BaseModel] | None = None
    ) -> Callable[[Any], Any]:
        def deco(obj: Any) -> Any:
            key = name or obj.__name__
            old = self._items.get(key)
            if old is not None and old.cls is not obj:
                raise ValueError(f"{self.kind} {key!r} is already registered ({old.cls!r})")
            self._items[key] = Entry(
                obj, params if params is not None else getattr(old, "params", None)
            )
            return obj

        return deco

    def entry(self, name: str, file: str | None = None, key: str | None = None) -> Entry:
        load_builtins()
        if name not in self._items:
            known = ", ".join(sorted(self._items)) or "none"
            hint = did_you_mean(name, self._items)
            raise ConfigError(f"unknown {self.kind} {name!r}{hint}; known: {known}", file, key)
        return self._items[name]

    def get(self, name: str, file: str | None = None, key: str | None = None) -> Any:
        return self.entry(name, file, key).cls

    def params(self, name: str, file: str | None = None, key: str | None = None):
        """The params model of a registered class, or None when it declares none."""
        return self.entry(name, file, key).params

    def names(self) -> list[str]:
        load_builtins()
        return sorted(self._items)

    def __contains__(self, name: str) -> bool:
        load_builtins()
        return name in self._items


MODELS = Registry("model")
LOSSES = Registry("loss")
DATALOADERS = Registry("dataloader")

register_model = MODELS.register
register_loss = LOSSES.register
register_dataloader = DATALOADERS.register
