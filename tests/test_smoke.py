import json

from alchemi_core import api


def test_debug_config_trains_and_writes_run_folder(write_config, tmp_path, monkeypatch):
    monkeypatch.setenv("ALCHEMI_PLOTS", "1")
    result = api.train(write_config())
    run = tmp_path / "out" / "debug"
    assert result.status == "finished" and result.epochs_run == 3
    assert (run / "checkpoints" / "last_model.pt").is_file()
    lines = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert [m["epoch"] for m in lines] == [1, 2, 3]
    assert (run / "curves.png").read_bytes()[:4] == b"\x89PNG"
    assert {"train_loss", "val_loss", "lr", "train_kl_loss"} <= set(lines[0])
