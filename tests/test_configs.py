"""Every YAML shipped under configs/ loads and validates (a rename fails here, not mid-run)."""

from __future__ import annotations

from pathlib import Path

import pytest

from alchemi_core.config import CONFIG_KINDS
from alchemi_core.config.loading import load_config

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = sorted((ROOT / "configs").rglob("*.yaml"))


def test_configs_are_shipped():
    assert {p.parent.name for p in SHIPPED} >= {"vae"}


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: str(p.relative_to(ROOT / "configs")))
def test_shipped_config_validates(path):
    kind = path.relative_to(ROOT / "configs").parts[0]
    assert kind in CONFIG_KINDS, f"no validator registered for configs/{kind}/"
    cfg = load_config(path, model=CONFIG_KINDS[kind])
    assert cfg is not None
