import pytest

from alchemi_core import MODELS, api, register_model
from alchemi_core.errors import ConfigError
from alchemi_core.registry import Registry


def test_duplicate_name_is_an_error():
    reg = Registry("model")
    reg.register("A")(type("A", (), {}))
    with pytest.raises(ValueError, match="already registered"):
        reg.register("A")(type("B", (), {}))


def test_unknown_name_lists_known_and_suggests():
    with pytest.raises(ConfigError) as info:
        MODELS.get("VEA", "c.yaml", "model.class")
    msg = info.value.line()
    assert msg.startswith("c.yaml: model.class: unknown model 'VEA'")
    assert "did you mean 'VAE'" in msg
    known = msg.split("known: ", 1)[1].split(", ")
    assert known == sorted(known) and {"SAE", "VAE"} <= set(known)  # plugins may add more


def test_builtins_are_registered_on_import():
    from alchemi_core import DATALOADERS, LOSSES

    assert {"VAE", "SAE"} <= set(MODELS.names())
    assert {"VAELoss", "SAELoss"} <= set(LOSSES.names())
    assert {"TabularDataLoader", "EmbeddingDataLoader"} <= set(DATALOADERS.names())


def test_re_registering_the_same_object_is_allowed():
    @register_model("_same_twice")
    class M:  # noqa: B903
        pass

    assert register_model("_same_twice")(M) is M


def test_user_model_from_own_module_via_imports(write_config, tmp_path):
    cfg = write_config(
        imports=["tests.plugins.my_models"],
        model={"class": "TinyAutoencoder", "params": {"bottleneck": 3}},
        data__columns={"numerical": ["bill_length_mm", "body_mass_g"]},
        data__cardinalities_path=None,
        train__loss={"class": "TinyMSE", "params": {}},
        val__loss={"class": "TinyMSE", "params": {}},
        checkpoint__metric="val_mse",
    )
    result = api.train(cfg)
    assert result.status == "finished"
    assert result.metrics["val_mse"] > 0
    import torch

    ckpt = torch.load(result.last_checkpoint, weights_only=True)
    assert ckpt["model_class"] == "TinyAutoencoder"
    assert ckpt["model_params"] == {"bottleneck": 3, "input_dim": 2}  # input_dim inferred


def test_missing_import_module_is_a_config_error(write_config):
    cfg = write_config(imports=["no_such_module_xyz"])
    with pytest.raises(ConfigError) as info:
        api.train(cfg)
    assert info.value.key == "imports[0]"
