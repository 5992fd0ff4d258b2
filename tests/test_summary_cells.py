"""The flow summary's table cells stay short (Prefect's UI does not wrap them); the rest is
listed below the table. Plain functions: no Prefect server."""

from __future__ import annotations


def test_a_training_with_best_and_last_keeps_the_cell_to_its_best_epoch():
    from flows import report

    def line(epoch, v):
        return {"epoch": epoch, "val_loss": v, "val_numerical_mse": v, "val_l0": 3.0,
                "val_categorical_accuracy": 0.9, "val_kl_loss": 19.0}  # fmt: skip

    result = {"metrics": line(49, 0.2367), "best_metrics": line(29, 0.2157), "run_dir": "r"}
    text = report.markdown("t", [report.step_row("vae", "train", "Completed", result)], [])
    cell = next(x for x in text.splitlines() if x.startswith("| vae | train")).split(" | ")[3]
    assert cell.startswith("best (epoch 29): val_loss=0.2157") and "last" not in cell
    assert cell.count("=") == report.TABLE_METRICS
    listed = next(x for x in text.splitlines() if x.startswith("- vae train: "))
    assert "best (epoch 29): " in listed and "; last (epoch 49): val_loss=0.2367" in listed
    assert "val_kl_loss=19" in listed  # all of them, below the table


def test_the_extract_cell_names_the_folder_once():
    from flows import report

    splits = {s: {"path": f"runs/vae/embeddings/{s}_embeddings.npy", "shape": [n, 8]}
              for s, n in (("train", 40), ("val", 5))}  # fmt: skip
    row = report.step_row("vae", "extract", "Completed", {"splits": splits})
    assert row["output"] == "runs/vae/embeddings/: train [40, 8], val [5, 8]"
