# Two commands for a new user: `make run` (SkyDriver on its embedded defaults) and `make test`.
# Both create .venv and install the project into it first (once; again when pyproject.toml changes).

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed

.PHONY: run scan test test-fast fuzz bench schemas docs pictures lock clean

$(INSTALLED): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[test]"
	touch $(INSTALLED)

# SkyDriver on 127.0.0.1:8080: embedded database, local launcher, reference scanner, auth off (loopback only)
run: $(INSTALLED)
	SKYDRIVER_AUTH=$${SKYDRIVER_AUTH:-off} WAIT_BEFORE_TEARDOWN=$${WAIT_BEFORE_TEARDOWN:-2} \
	SKYSCAN_PROGRESS_INTERVAL_SEC=$${SKYSCAN_PROGRESS_INTERVAL_SEC:-1} SKYSCAN_RESULT_INTERVAL_SEC=$${SKYSCAN_RESULT_INTERVAL_SEC:-3} \
	$(PY) -m skydriver

# in a second terminal: scan the real event end to end with the `skydriver` command, save the sky map as skymap.png
scan: $(INSTALLED)
	$(VENV)/bin/skydriver scan examples/data/events/138632_31747601.json \
		--reco-algo dummy --nsides 8:0,16:4,32:4 --cluster local:2 --wait -o skymap.png

test: $(INSTALLED)
	$(PY) -m pytest -q

# everything but the end-to-end tests with real processes or a browser (marked slow)
test-fast: $(INSTALLED)
	$(PY) -m pytest -q -m "not slow"

# schemathesis over schemas/openapi.json as user and system; fails on any 5xx or under 10,000 requests (not in `test`)
fuzz: $(INSTALLED)
	$(PY) -m tests.fuzz_api

bench: $(INSTALLED)
	$(PY) benchmarks/run.py

# generated from declarations: schemas/ from the route table and the models; docs also writes the README's settings
# and routes tables from the settings' and the routes' declarations (tests fail when any is stale)
schemas: $(INSTALLED)
	$(PY) -m skydriver.openapi

docs: schemas
	$(PY) -m skydriver.docs

# the README's sky-map pictures (docs/skymap_*.png), drawn by SkyDriver's renderer from the production result
pictures: $(INSTALLED)
	$(PY) -m examples.skymap_pictures

# the image's pinned dependencies, with hashes (Dockerfile); run after changing pyproject.toml's dependencies
lock: $(INSTALLED)
	$(PY) -m pip install --quiet uv
	$(VENV)/bin/uv pip compile pyproject.toml --python-version 3.11 --python-platform x86_64-manylinux_2_28 \
		--generate-hashes --no-header --quiet -o requirements.lock

clean:
	rm -rf $(VENV) .skydriver-data .pytest_cache
