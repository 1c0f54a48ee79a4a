# asynclab: `make lab` opens the collection in JupyterLab, `make test` runs every test.
# Both create their own virtual environment (.venv) from the pinned requirements files.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Binder runs the notebooks on this version (binder/runtime.txt); the tests run them on it too.
BINDER_PYTHON := $(shell sed -n 's/^python-//p' binder/runtime.txt)
VENV_BINDER := .venv-$(BINDER_PYTHON)
LAB_ARGS ?=
# Jupyter refuses to run as root without being told (containers, CI).
ROOT_FLAG := $(if $(filter 0,$(shell id -u)),--allow-root)
PYTEST_ARGS ?=

.PHONY: lab test bench lock site check-python clean

check-python:
	@$(PYTHON) -c 'import sys; sys.exit(0) if sys.version_info >= (3, 11) else sys.exit("asynclab needs Python 3.11 or newer, but $(PYTHON) is Python " + sys.version.split()[0] + ". Install a newer Python and run: make PYTHON=python3.12 $(MAKECMDGOALS)")'

$(BIN)/python: | check-python
	$(PYTHON) -m venv $(VENV)

$(VENV)/.runtime: requirements.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.test: requirements.txt requirements-test.txt $(VENV)/.runtime
	$(BIN)/pip install --quiet -r requirements.txt -r requirements-test.txt
	touch $@

# A second environment on Binder's Python, when this machine has that interpreter (else the test skips and says so).
$(VENV_BINDER)/.test: requirements.txt requirements-test.txt
	@py=$$(scripts/find_python.sh $(BINDER_PYTHON)); \
	if [ -z "$$py" ]; then echo "No Python $(BINDER_PYTHON) found: the Binder-Python notebook test will be skipped."; \
	else $$py -m venv $(VENV_BINDER) && $(VENV_BINDER)/bin/pip install --quiet -r requirements.txt -r requirements-test.txt && touch $@; fi

# The reading edition's tools (Jupyter Book 1.x), pinned against the runtime pins.
$(VENV)/.site: requirements-site.txt $(VENV)/.runtime
	$(BIN)/pip install --quiet -r requirements-site.txt
	touch $@

lab: $(VENV)/.runtime
	$(BIN)/jupyter lab $(ROOT_FLAG) --ServerApp.root_dir="$(CURDIR)" --LabApp.default_url=/lab/tree/notebooks/00_start_here.ipynb $(LAB_ARGS)

# Two processes for the kernel-level tests (2 cores); the browser tests run on their own, since
# Playwright's sync API keeps an event loop running in its process.
test: $(VENV)/.test $(VENV)/.site $(VENV_BINDER)/.test
	$(BIN)/python -m pytest -n 2 --ignore=tests/browser $(PYTEST_ARGS)
	$(BIN)/python -m pytest tests/browser $(PYTEST_ARGS)

# The reading edition in build/site/: every notebook executed fresh, then rendered by Jupyter Book.
# JUPYTERHUB_URL=https://hub.example.edu sets the hub of the nbgitpuller launch links.
site: $(VENV)/.site
	$(BIN)/python scripts/build_site.py

bench: $(VENV)/.test
	$(BIN)/python benchmarks/bench_timeline.py

# Re-pin after editing requirements*.in; Binder installs the very same pins.
lock: $(VENV)/.test
	$(BIN)/pip install --quiet pip-tools
	$(BIN)/pip-compile --quiet --strip-extras --no-header --no-emit-index-url --no-emit-find-links -o requirements.txt requirements.in
	$(BIN)/pip-compile --quiet --strip-extras --no-header --no-emit-index-url --no-emit-find-links -o requirements-test.txt requirements-test.in
	cp requirements.txt binder/requirements.txt
	$(BIN)/pip install --quiet uv
	$(BIN)/uv pip compile --quiet --no-header --python-version 3.11.5 -c requirements.txt -o requirements-site.txt requirements-site.in

clean:
	rm -rf $(VENV) $(VENV_BINDER) build .pytest_cache
