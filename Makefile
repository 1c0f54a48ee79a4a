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

.PHONY: lab test bench lock check-python clean

check-python:
	@$(PYTHON) -c 'import sys; sys.exit(0) if sys.version_info >= (3, 11) else sys.exit("asynclab needs Python 3.11 or newer, but $(PYTHON) is Python " + sys.version.split()[0] + ". Install a newer Python and run: make PYTHON=python3.12 $(MAKECMDGOALS)")'

$(BIN)/python: | check-python
	$(PYTHON) -m venv $(VENV)

# JupyterLab reads settings overrides from the environment: no news prompt over the first lesson.
LAB_OVERRIDES := $(VENV)/share/jupyter/lab/settings/overrides.d/asynclab.json

$(VENV)/.runtime: requirements.txt binder/lab-overrides.json | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.txt
	mkdir -p $(dir $(LAB_OVERRIDES)) && cp binder/lab-overrides.json $(LAB_OVERRIDES)
	touch $@

$(VENV)/.test: requirements.txt requirements-test.txt $(VENV)/.runtime
	$(BIN)/pip install --quiet -r requirements.txt -r requirements-test.txt
	touch $@

# A second environment on Binder's Python, when this machine has that interpreter (else the test skips and says so).
$(VENV_BINDER)/.test: requirements.txt requirements-test.txt
	@py=$$(scripts/find_python.sh $(BINDER_PYTHON)); \
	if [ -z "$$py" ]; then echo "No Python $(BINDER_PYTHON) found: the Binder-Python notebook test will be skipped."; \
	else $$py -m venv $(VENV_BINDER) && $(VENV_BINDER)/bin/pip install --quiet -r requirements.txt -r requirements-test.txt && touch $@; fi

# Google Colab's stack (IPython 7.34 on Python 3.13), for the %%timeline test (skipped, saying so, without 3.13).
VENV_COLAB := .venv-colab
$(VENV_COLAB)/.test: tests/stacks/colab-requirements.txt
	@py=$$(scripts/find_python.sh 3.13); \
	if [ -z "$$py" ]; then echo "No Python 3.13 found: the Colab-stack tests will be skipped."; \
	else $$py -m venv $(VENV_COLAB) && $(VENV_COLAB)/bin/pip install --quiet -r tests/stacks/colab-requirements.txt && touch $@; fi

lab: $(VENV)/.runtime
	$(BIN)/jupyter lab $(ROOT_FLAG) --ServerApp.root_dir="$(CURDIR)" --LabApp.default_url=/lab/tree/notebooks/00_start_here.ipynb $(LAB_ARGS)

# Two processes for the kernel-level tests (2 cores); the browser tests run on their own, since
# Playwright's sync API keeps an event loop running in its process.
test: $(VENV)/.test $(VENV_BINDER)/.test $(VENV_COLAB)/.test
	$(BIN)/python -m pytest -n 2 --ignore=tests/browser $(PYTEST_ARGS)
	$(BIN)/python -m pytest tests/browser $(PYTEST_ARGS)

bench: $(VENV)/.test
	$(BIN)/python benchmarks/bench_timeline.py

# Re-pin after editing requirements*.in; Binder installs the very same pins.
lock: $(VENV)/.test
	$(BIN)/pip install --quiet pip-tools
	$(BIN)/pip-compile --quiet --strip-extras --no-header --no-emit-index-url --no-emit-find-links -o requirements.txt requirements.in
	$(BIN)/pip-compile --quiet --strip-extras --no-header --no-emit-index-url --no-emit-find-links -o requirements-test.txt requirements-test.in
	cp requirements.txt binder/requirements.txt

clean:
	rm -rf $(VENV) $(VENV_BINDER) build .pytest_cache
