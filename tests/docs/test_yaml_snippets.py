"""Every ```yaml block in the docs and the README is a valid config.

A full snippet is loaded as it is, its kind told by its keys. A partial one starts with the
marker line `# partial: <shipped config>`: it is merged over that config (mappings merged key by
key, except a `params` mapping, which belongs to its class and is replaced; anything else
replaced) and the result is loaded as that config's kind. Loading is the
config loader's own, then its deep check (`alchemi config validate`): schema, classes, params
models, cross-field rules, and the data files' headers (the penguins data, prepared once).
"""

from __future__ import annotations

import importlib
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from alchemi_core.config.kinds import kind_of
from alchemi_core.config.loading import parse_yaml, read_yaml
from alchemi_core.errors import ConfigError
from tests.docs.snippets import PAGES, ROOT, blocks

MARKER = "# partial:"
# kinds whose deep check reads data this workspace has (the spectral kinds' data is not here:
# their snippets get the loader's schema and cross-field checks only)
DEEP = ("training", "extract", "predict", "pipeline", "sweep")
SNIPPETS = [
    pytest.param(page, i, text, id=f"{page.relative_to(ROOT)}#{i}")
    for page in PAGES
    for i, text in enumerate(blocks(page, "yaml"))
]


def use_plugin(monkeypatch) -> None:
    """`imports: [my_models]` finds the test plugin (one module object, registered once)."""
    monkeypatch.setitem(
        sys.modules, "my_models", importlib.import_module("tests.plugins.my_models")
    )


def merge(base: dict, over: dict) -> dict:
    out = dict(base)
    for key, value in over.items():
        if key != "params" and isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


@pytest.fixture(scope="module")
def configs(tmp_path_factory, penguins_dir) -> Path:
    """A workspace: a copy of configs/ (partial snippets resolve relative paths as shipped) and
    data/penguins, where the shipped penguins configs read it."""
    work = tmp_path_factory.mktemp("docs_snippets")
    shutil.copytree(ROOT / "configs", work / "configs")
    (work / "data").mkdir()
    (work / "data/penguins").symlink_to(penguins_dir)
    emb = work / "experiments/vae/debug/embeddings"  # what the SAE debug config reads
    emb.mkdir(parents=True)
    for split in ("train", "val"):
        np.save(
            emb / f"{split}_embeddings.npy",
            np.random.default_rng(0).normal(size=(16, 4)).astype("float32"),
        )
    return work / "configs"


def test_the_docs_have_yaml_snippets():
    assert len(SNIPPETS) >= 4


@pytest.mark.parametrize(("page", "index", "text"), SNIPPETS)
def test_yaml_snippet_is_a_valid_config(page, index, text, configs, monkeypatch):
    use_plugin(monkeypatch)
    monkeypatch.chdir(configs.parent)
    first = text.splitlines()[0].strip()
    data = parse_yaml(text)
    assert isinstance(data, dict), f"{page.name} block {index}: not a mapping"
    if first.startswith(MARKER):
        base = configs / first[len(MARKER) :].strip().removeprefix("configs/")
        assert base.is_file(), f"{page.name} block {index}: no shipped config {base}"
        data = merge(read_yaml(base), data)
        path = base.parent / f"_snippet_{page.stem}_{index}.yaml"
    else:
        path = configs / f"_snippet_{page.stem}_{index}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    check(path, data)


def check(path: Path, data: dict) -> None:
    kind = kind_of(path, data)
    cfg = kind.load(str(path), [])
    if kind.check is not None and kind.name in DEEP:
        kind.check(cfg, str(path))


@pytest.mark.parametrize(
    "change", [{"global": {"sead": 1}}, {"model": {"params": {"bottlenck": 2}}}]
)
def test_a_wrong_snippet_fails(configs, monkeypatch, change):
    use_plugin(monkeypatch)
    monkeypatch.chdir(configs.parent)
    path = configs / "vae" / "_wrong.yaml"
    base = merge(read_yaml(configs / "vae/penguins_debug.yaml"), {"imports": ["my_models"]})
    data = merge(merge(base, {"model": {"class": "TinyAutoencoder"}}), change)
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError, match="sead|bottlenck"):
        check(path, data)
