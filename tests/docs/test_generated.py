"""The generated docs: in sync with their sources, and what they say is right."""

from __future__ import annotations

import importlib.util
import json
import shutil

import pytest

from alchemi_core import reference
from alchemi_core.config.reference import config_kinds, config_reference
from tests.docs.snippets import ROOT


def gen_docs():
    spec = importlib.util.spec_from_file_location("gen_docs", ROOT / "scripts/gen_docs.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def edit_json(text: str, change) -> str:
    data = json.loads(text)
    change(data)
    return json.dumps(data, indent=2) + "\n"


def test_committed_docs_are_what_the_generator_writes(capsys):
    code = gen_docs().main(["--check"])
    assert code == 0, "stale generated docs (run `make docs-gen`):\n" + capsys.readouterr().err


@pytest.mark.parametrize(
    ("rel", "edit"),
    [
        ("docs/reference/config.md", lambda t: t.replace("`train.epochs`", "`train.epoch`")),
        ("docs/reference/params/model-VAE.md", lambda t: t + "\nedited by hand\n"),
        ("bench/results.json", lambda t: edit_json(t, lambda d: d["rows"][0].update(ratio=9.99))),
        ("docs/demo_summary.txt", lambda t: t + "one more line\n"),
        ("mkdocs.yml", lambda t: t.replace("          - VAE: reference/params/model-VAE.md\n", "")),
        (
            "bench/quality.json",
            lambda t: edit_json(t, lambda d: d["tables"]["ofp"]["vae"][-1].update(mse=9.0)),
        ),
        (
            "bench/quality.json",
            lambda t: edit_json(t, lambda d: d["tables"]["diamonds"].update(command="x")),
        ),
        (
            "bench/alignment_quality.json",
            lambda t: edit_json(t, lambda d: d["retrieval"][-1].update(physics_top1=0.5)),
        ),
        (
            "bench/alignment_quality.json",
            lambda t: edit_json(t, lambda d: d["retrieval"][-1].update(space_fused_top1=0.1)),
        ),
        (
            "bench/alignment_quality.json",
            lambda t: edit_json(t, lambda d: d["retrieval"][0].update(space_fused_top1=0.0)),
        ),
        (
            "bench/alignment_quality.json",
            lambda t: edit_json(t, lambda d: d["transfer"][0].update(bridge=0.99)),
        ),
        ("docs/vae.md", lambda t: t.replace("| diamonds, seed 42 |", "| diamonds, seed 4 |")),
        ("bench/spikes.jsonl", lambda t: t.replace('"ratio": 1.1963', '"ratio": 2.5')),
        ("docs/vae.md", lambda t: t.replace("| sae_demo | 1.00@20 |", "| sae_demo | 1.00@21 |")),
        (
            "docs/alignment-quality.md",
            lambda t: t.replace("| rapideye | LEVEL_3 | 3% |", "| rapideye | LEVEL_3 | 2% |"),
        ),
        (
            "bench/sae_frontier.json",
            lambda t: edit_json(t, lambda d: d["rows"][0].update(fve=0.123)),
        ),
        (
            "bench/sae_frontier.json",
            lambda t: edit_json(t, lambda d: d["points"][-1].update(l0=9.5)),
        ),
        ("bench/sae_frontier.json", lambda t: edit_json(t, lambda d: d.update(seconds=1))),
        ("docs/sae.md", lambda t: t.replace("| diamonds topk k=1 |", "| diamonds topk k=3 |")),
    ],
)
def test_check_finds_a_stale_part(tmp_path, monkeypatch, capsys, rel, edit):
    for part in ("docs", "bench"):
        shutil.copytree(ROOT / part, tmp_path / part, ignore=shutil.ignore_patterns("*.py"))
    for name in ("README.md", "mkdocs.yml"):
        shutil.copy(ROOT / name, tmp_path / name)
    target = tmp_path / rel
    before = target.read_text()
    target.write_text(edit(before))
    assert target.read_text() != before
    module = gen_docs()
    monkeypatch.setattr(module, "ROOT", tmp_path)
    assert module.main(["--check"]) == 1
    assert "stale" in capsys.readouterr().err
    assert module.main([]) == 0  # regenerates
    assert module.main(["--check"]) == 0


def test_every_builtin_class_has_a_page_with_each_field():
    from alchemi_core.registry import DATALOADERS, LOSSES, MODELS

    pages = reference.params_pages()
    for kind, reg in (("model", MODELS), ("loss", LOSSES), ("dataloader", DATALOADERS)):
        for name in reg.names():
            entry = reg.entry(name)
            if not entry.cls.__module__.startswith("alchemi_core."):
                continue
            page = pages[f"{kind}-{name}.md"]
            assert f"[{name}]({kind}-{name}.md)" in pages["index.md"]
            for field in entry.params.model_fields if entry.params else ():
                row = next(r for r in page.splitlines() if r.startswith(f"| `{field}` |"))
                assert row.replace("\\|", "").count("|") == 6 and not row.endswith("|  |"), row


def test_vae_page_rows():
    page = reference.params_page("model", "VAE")
    assert "| `latent_dim` | int | required | > 0 | size of the latent" in page
    assert "| `hidden_dims` | list[int] \\| null | null | > 0 |" in page


def test_a_plugin_gets_its_page_the_same_way():
    pages = reference.params_pages(imports=("tests.plugins.my_models",))
    page = pages["model-TinyAutoencoder.md"]
    assert "`model.params`, checked when the config loads (`TinyParams`)" in page
    assert "| `bottleneck` | int | `2` | > 0 |" in page
    assert (
        "| `input_dim` | int \\| null | null | > 0 | inferred from the data when omitted |" in page
    )
    assert "[TinyAutoencoder](model-TinyAutoencoder.md)" in pages["index.md"]
    # no params model: the constructor's arguments
    broken = pages["model-BrokenModel.md"]
    assert "No params model" in broken and "| `input_dim` | int | required |" in broken
    # the built-in pages do not pick up a plugin registered in the same process
    assert "model-TinyAutoencoder.md" not in reference.params_pages()


def test_config_reference_lists_every_key_of_every_kind():
    from alchemi_core.config.schema import TrainingConfig

    text = config_reference()
    for name, _ in config_kinds():
        assert f"\n## {name}\n" in text
    for key in ("`train.loader_params.batch_size`", "`global.threads`", "`mlflow.credentials.password`",
                "`banddepth.features[].left_nm`", "`random.params.<key>.low`", "`train.mask_ratios`"):  # fmt: skip
        assert key in text, key
    row = next(r for r in text.splitlines() if r.startswith("| `val.frequency` |"))
    assert "int | required | > 0 | validate every N epochs" in row
    assert TrainingConfig.model_fields["checkpoint"].is_required()


def test_every_config_key_has_a_meaning():
    from alchemi_core.config.schema import TrainingConfig

    missing = [
        f"{name}: {row[0]}"
        for name, schema in config_kinds()
        for row in reference.rows(schema, skip=(TrainingConfig,) if name != "training" else ())
        if not row[4].strip()
    ]
    assert not missing, "keys without a description or a trailing comment:\n" + "\n".join(missing)


def test_every_parameter_page_is_in_the_nav():
    nav = (ROOT / "mkdocs.yml").read_text()
    for page in reference.params_pages():
        assert f"reference/params/{page}\n" in nav, page


def test_quality_block_rows_and_verdicts():
    def case(mses, accs, quick=False):
        vae = [{"seed": s, "mse": m, "acc": a, "epochs": 10} for s, m, a in zip((42, 1, 2)[: len(mses)], mses, accs, strict=True)]  # fmt: skip
        return {"table": "t", "when": "w", "command": "c", "source": "s", "seconds": 1,
                "quick": quick, "tuned_on": False, "latent": 8, "train_rows": 1000, "numerical": 3,
                "levels": [2, 5], "pca": {"mse": 0.1, "acc": 0.9}, "vae": vae,
                "median": {"mse": sorted(mses)[len(mses) // 2], "acc": sorted(accs)[len(accs) // 2]}}  # fmt: skip

    g = gen_docs()
    assert g.verdict(case([0.05], [0.95])) == "wins both"
    assert g.verdict(case([0.12], [0.85])) == "loses MSE by 20%; loses accuracy by 5.0 points"
    assert g.verdict(case([0.5], [0.1], quick=True)) == "quick run: no verdict"
    assert g.verdict(case([8.4], [0.95])) == "loses MSE (84x PCA's)"
    text = g.quality_block({"tables": {"t": case([0.05, 0.2, 0.12], [0.95, 0.9, 0.97])}})
    assert (
        "| t, seed 42 | 1,000 | 3 num + 2 cat (2-5 levels) | no | 0.100 | 0.0500 | 0.900 | 0.950 | wins both |"
        in text
    )
    assert (
        "| t, median of seeds 42/1/2 |  |  |  | 0.100 | 0.120 | 0.900 | 0.950 | loses MSE by 20% |"
        in text
    )
    assert (
        "- t over seeds 42/1/2: numerical MSE 0.050 / 0.200 / 0.120, accuracy 0.950 / 0.900 / 0.970, 10 / 10 / 10 epochs"
        in text
    )
    assert "- t: `c` (w, 1 s; s)" in text
