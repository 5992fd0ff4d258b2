"""A sweep whose trials run on a Dask cluster (prefect-dask), found by its scheduler address."""

from __future__ import annotations

import pytest
import yaml

from flows.sweep import sweep_flow

pytestmark = pytest.mark.slow


def test_sweep_steps_run_on_the_dask_cluster_workers(make_pipeline, tmp_path):
    from distributed import Client, LocalCluster, get_task_stream

    pipe = make_pipeline()
    spec = {
        "pipeline": pipe.name,
        "output_dir": str(tmp_path / "sweep"),
        "grid": {"sae.model.params.hidden_dim": [4, 8]},
        "objective": {"metric": "sae.loss", "direction": "min"},
    }
    cluster = LocalCluster(
        n_workers=2, threads_per_worker=1, processes=False, protocol="tcp", dashboard_address=None
    )
    try:
        spec["executor"] = {"kind": "dask", "address": cluster.scheduler_address}
        sweep = tmp_path / "sweep.yaml"
        sweep.write_text(yaml.safe_dump(spec))
        with Client(cluster.scheduler_address) as client, get_task_stream(client) as stream:
            out = sweep_flow(str(sweep))
        ran = stream.data
    finally:
        cluster.close()

    assert out["trials"] == 2 and {r["status"] for r in out["rows"]} == {"ok"}
    # 1 VAE (train, checkpoint, extract) + 2 SAEs (train): the trainings' own val metrics
    assert len(ran) >= 5, [r["key"] for r in ran]
    assert len({r["worker"] for r in ran}) == 2  # both workers ran steps
    assert sum(r["key"].startswith("train") for r in ran) == 3
