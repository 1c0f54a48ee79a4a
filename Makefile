# asynclab: `make lab` opens the collection in JupyterLab, `make test` runs every test.
# Both create their own virtual environment (.venv) from the pinned requirements files.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
LAB_ARGS ?=
# Jupyter refuses to run as root without being told (containers, CI).
ROOT_FLAG := $(if $(filter 0,$(shell id -u)),--allow-root)
PYTEST_ARGS ?=

.PHONY: lab test lint test-envs bench corpus lock wheel site course check-python clean

check-python:
	@$(PYTHON) scripts/check_python.py $(MAKECMDGOALS)

$(BIN)/python: | check-python
	$(PYTHON) -m venv $(VENV)

# JupyterLab reads settings overrides from the environment: no news prompt over the first lesson.
LAB_OVERRIDES := $(VENV)/share/jupyter/lab/settings/overrides.d/asynclab.json

$(VENV)/.runtime: requirements.txt binder/lab-overrides.json | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.txt
	mkdir -p $(dir $(LAB_OVERRIDES)) && cp binder/lab-overrides.json $(LAB_OVERRIDES)
	touch $@

# The test environment installs the same pins with uv (pinned in requirements-test.txt, itself put
# in with pip), faster than pip on every fresh checkout CI makes. Like pip's, it is then the runtime
# environment too, so `make lab` after `make test` installs nothing more. Like pip, it compiles the
# bytecode: where PYTHONDONTWRITEBYTECODE is set (CI), every process would compile what it imports.
UV_PIN = $(shell grep '^uv==' requirements-test.txt)
UV_INSTALL := $(BIN)/uv pip install --quiet --compile-bytecode --python
# uv where the test environment has put it, else pip (`make course` or `make site` on their own).
INSTALL = $(if $(wildcard $(BIN)/uv),$(UV_INSTALL) $(BIN)/python,$(BIN)/pip install --quiet)
$(VENV)/.test: requirements.txt requirements-test.txt binder/lab-overrides.json | $(BIN)/python
	$(BIN)/pip install --quiet "$(UV_PIN)"
	$(UV_INSTALL) $(BIN)/python -r requirements.txt -r requirements-test.txt
	mkdir -p $(dir $(LAB_OVERRIDES)) && cp binder/lab-overrides.json $(LAB_OVERRIDES)
	touch $(VENV)/.runtime $@

# nbgrader, for `make course` and the course tests, pinned against the runtime pins. Its Jupyter
# server and JupyterLab extensions are switched off in this venv: `make lab` and the notebook tests
# run the collection's own Jupyter, and a teacher's hub enables them from its own install.
NBGRADER_SERVER_EXTENSIONS := formgrader validate_assignment assignment_list course_list
$(VENV)/.course: requirements.txt requirements-course.txt $(VENV)/.runtime
	$(INSTALL) -r requirements.txt -r requirements-course.txt
	for e in $(NBGRADER_SERVER_EXTENSIONS); do $(BIN)/jupyter server extension disable --sys-prefix nbgrader.server_extensions.$$e >/dev/null 2>&1; done
	$(BIN)/jupyter labextension disable --level=sys_prefix @jupyter/nbgrader >/dev/null 2>&1
	touch $@

# An nbgrader course folder (one assignment per section notebook) in $(COURSE_DIR); see the README.
COURSE_DIR ?= build/course
course: $(VENV)/.course
	cd notebooks && ../$(BIN)/python -m asynclab.course $(abspath $(COURSE_DIR))

# One more environment for each supported Python this machine has: Debian 12's 3.11.2, Binder's 3.12,
# 3.13, and Debian sid's 3.14 and 3.15 in a chroot (built once, as root). The tests skip, saying why,
# any that cannot be had here.
test-envs: $(VENV)/.test
	$(BIN)/python scripts/test_envs.py

# Google Colab's stack (IPython 7.34 on Python 3.13), for the %%timeline and notebooks-alone tests
# (skipped, saying so, without 3.13).
VENV_COLAB := .venv-colab
$(VENV_COLAB)/.test: tests/stacks/colab-requirements.txt | $(VENV)/.test
	@py=$$(scripts/find_python.sh 3.13); \
	if [ -z "$$py" ]; then echo "No Python 3.13 found: the Colab-stack tests will be skipped."; \
	else $$py -m venv $(VENV_COLAB) && $(UV_INSTALL) $(VENV_COLAB)/bin/python --only-binary :all: -r tests/stacks/colab-requirements.txt && touch $@; fi

# The reading edition's tools (Jupyter Book 1.x), pinned against the runtime pins.
$(VENV)/.site: requirements-site.txt $(VENV)/.runtime
	$(INSTALL) -r requirements-site.txt
	touch $@

lab: $(VENV)/.runtime
	$(BIN)/jupyter lab $(ROOT_FLAG) --ServerApp.root_dir="$(CURDIR)" --LabApp.default_url=/lab/tree/notebooks/00_start_here.ipynb $(LAB_ARGS)

# Lint, format and types (configured in pyproject.toml): a few seconds, so `make test` runs them first.
# mypy reads the package to check from pyproject.toml.
lint: $(VENV)/.test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# Three processes for the kernel-level tests: on 2 cores, since most of a notebook's time is spent
# waiting (sleeps, requests), two leave a core idle. "loadgroup" hands each worker its next test
# when it is nearly done, longest first (tests/conftest.py orders them), and keeps a module marked
# xdist_group on one worker, so its costly fixtures are built once. The browser tests run on their
# own, since Playwright's sync API keeps an event loop running in its process: two workers, one
# test file each at a time (each worker starts its own JupyterLab and Chromium).
TEST_WORKERS ?= 3
BROWSER_WORKERS ?= 2
test: lint $(VENV)/.test $(VENV)/.site $(VENV)/.course test-envs $(VENV_COLAB)/.test
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadgroup --ignore=tests/browser --durations=25 $(PYTEST_ARGS)
	$(BIN)/python -m pytest -n $(BROWSER_WORKERS) --dist loadfile tests/browser $(PYTEST_ARGS)

# The installable package (pyproject.toml): dist/asynclab-VERSION-py3-none-any.whl, data included.
wheel: | $(BIN)/python
	$(BIN)/pip wheel --quiet --no-deps -w dist .
	@ls -l dist/asynclab-*.whl

# The reading edition in build/site/: every notebook executed fresh, then rendered by Jupyter Book.
# JUPYTERHUB_URL=https://hub.example.edu sets the hub of the nbgitpuller launch links.
site: $(VENV)/.site
	$(BIN)/python scripts/build_site.py

bench: $(VENV)/.test test-envs
	$(BIN)/python benchmarks/run_all.py

# The answer corpus ROUNDS times in a row on every Python: verdicts that never depend on timing.
corpus: $(VENV)/.test test-envs
	$(BIN)/python scripts/corpus_rounds.py $(or $(ROUNDS),20)

# Re-pin after editing requirements*.in: one lock for every supported Python and platform, with
# markers where versions must differ, checked to install from wheels on each. Existing pins are kept;
# move some on with UPGRADE="name ...". Binder installs the very same pins.
UPGRADE ?=
LOCK := $(BIN)/uv pip compile --universal --python-version 3.11 --no-header --quiet --no-python-downloads $(addprefix --upgrade-package ,$(UPGRADE))
lock: $(VENV)/.test
	$(LOCK) -o requirements.txt requirements.in
	$(LOCK) -o requirements-test.txt requirements-test.in
	$(LOCK) -o requirements-course.txt requirements-course.in
	cp requirements.txt binder/requirements.txt
	# The site's tools run on the main interpreter only; 3.11.5 is the oldest the runtime pins allow there.
	$(BIN)/uv pip compile --quiet --no-header --no-python-downloads --python-version 3.11.5 -c requirements.txt -o requirements-site.txt requirements-site.in
	$(BIN)/python scripts/check_wheels.py

clean:
	rm -rf $(VENV) .venv-* build dist .pytest_cache
