PY := .venv/bin/python
PIP := .venv/bin/pip
export PREFECT_SERVER_ANALYTICS_ENABLED := false
export MLFLOW_DISABLE_TELEMETRY := true
export DO_NOT_TRACK := true

.PHONY: setup test test-fast demo bench bench-quick lint docs docs-gen clean

setup: .venv/.installed

# torch is installed first, pinned, by pip (which takes the CPU build from this machine's disk), so
# nothing later can pull a CUDA build. The rest is resolved by uv, which keeps that torch: about
# 2 minutes instead of 10+. --no-compile: bytecode is written on first import, not for all of torch.
UV := .venv/bin/uv
.venv/.installed: pyproject.toml
	test -x $(PY) || python3 -m venv .venv
	$(PIP) install -q --no-compile torch==2.13.0 uv
	$(UV) pip install -q --python $(PY) -e '.[dev]'
	touch $@

# Two workers (pytest-xdist), one file at a time each: most tests are single-threaded processes
# (OMP_NUM_THREADS=1), so one worker leaves the second core idle much of the time.
test: setup
	$(PY) -m pytest -q -n 2 --dist loadfile

test-fast: setup
	$(PY) -m pytest -q -m "not slow"

lint: setup
	.venv/bin/ruff check . && .venv/bin/ruff format --check .

# The VAE -> SAE flow on diamonds: Prefect's temporary local API, MLflow in ./mlflow.db, CPU or
# the GPU. Ends with a short summary; DEMO_ARGS=--json prints the full result instead.
DEMO_DATA := $(addprefix data/diamonds/,train.csv val.csv test.csv cardinalities.json)

# A run that trained (not one answered from the step cache) records its summary in
# docs/demo_summary.txt (committed), and the README's demo block is regenerated from it.
demo: setup $(DEMO_DATA)
	@echo "data/diamonds: train/val/test.csv ready; running the VAE -> SAE flow"
ifeq ($(DEMO_ARGS),)
	bash -o pipefail -c '$(PY) flows/vae_sae.py --config configs/pipelines/diamonds.yaml | tee .demo_summary.txt'
	@if grep -q '^nothing changed' .demo_summary.txt; then rm .demo_summary.txt; \
	else mv .demo_summary.txt docs/demo_summary.txt && $(PY) scripts/gen_docs.py; fi
else
	$(PY) flows/vae_sae.py --config configs/pipelines/diamonds.yaml $(DEMO_ARGS)
endif

# Prepared once (a re-run of the demo does not rewrite the data); `rm -r data` prepares anew.
$(DEMO_DATA) &: .venv/.installed
	@$(PY) -m alchemi_core.cli prepare-data --dataset diamonds --out data/diamonds > /dev/null

bench: setup
	$(UV) pip install -q --python $(PY) -e '.[bench]'
	OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 $(PY) bench/run.py

bench-quick: setup
	$(UV) pip install -q --python $(PY) -e '.[bench]'
	OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 $(PY) bench/run.py --quick

# The generated pages (config reference, parameter pages, bench tables, the README's demo
# block), then the site, strict: a broken link or a stale page fails.
docs-gen: setup
	$(PY) scripts/gen_docs.py

docs: docs-gen
	NO_MKDOCS_2_WARNING=1 .venv/bin/mkdocs build --strict --site-dir site

clean:
	rm -rf experiments mlruns mlflow.db .pytest_cache
