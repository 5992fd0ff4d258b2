PY := .venv/bin/python
PIP := .venv/bin/pip
export PREFECT_SERVER_ANALYTICS_ENABLED := false
export MLFLOW_DISABLE_TELEMETRY := true
export DO_NOT_TRACK := true

.PHONY: setup test test-fast demo bench bench-quick lint clean

setup: .venv/.installed

# torch is installed first and pinned, so nothing later can pull a CUDA build.
.venv/.installed: pyproject.toml
	test -x $(PY) || python3 -m venv .venv
	$(PIP) install -q --upgrade pip
	$(PIP) install -q torch==2.13.0
	$(PIP) install -q -e '.[dev]'
	touch $@

test: setup
	$(PY) -m pytest -q

test-fast: setup
	$(PY) -m pytest -q -m "not slow"

lint: setup
	.venv/bin/ruff check . && .venv/bin/ruff format --check .

# The VAE -> SAE flow on diamonds: Prefect's temporary local API, MLflow in ./mlflow.db, CPU or
# the GPU. Ends with a short summary; DEMO_ARGS=--json prints the full result instead.
DEMO_DATA := $(addprefix data/diamonds/,train.csv val.csv test.csv cardinalities.json)

demo: setup $(DEMO_DATA)
	@echo "data/diamonds: train/val/test.csv ready; running the VAE -> SAE flow"
	$(PY) flows/vae_sae.py --config configs/pipelines/diamonds.yaml $(DEMO_ARGS)

# Prepared once (a re-run of the demo does not rewrite the data); `rm -r data` prepares anew.
$(DEMO_DATA) &: .venv/.installed
	@$(PY) -m alchemi_core.cli prepare-data --dataset diamonds --out data/diamonds > /dev/null

bench: setup
	$(PIP) install -q -e '.[bench]'
	OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 $(PY) bench/run.py

bench-quick: setup
	$(PIP) install -q -e '.[bench]'
	OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 $(PY) bench/run.py --quick

clean:
	rm -rf experiments mlruns mlflow.db .pytest_cache
