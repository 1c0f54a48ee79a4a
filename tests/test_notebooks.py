"""Every notebook, run the three ways a learner runs it, with zero errors and zero warnings."""

import subprocess
from pathlib import Path

import pytest

from nbharness import NOTEBOOKS_DIR, ROOT, run_all_queued, run_fresh

EXPECTED = ["00_start_here", "01_async_for", "02_async_comprehensions", "03_async_with", "04_async_pool"]
NOTEBOOKS = sorted(NOTEBOOKS_DIR.glob("[0-9][0-9]_*.ipynb"))
CELL_LIMIT = 10.0  # seconds; a loose bound against a runaway cell (the 3 s promise is reported)
BINDER_PYTHON = (ROOT / "binder" / "runtime.txt").read_text().strip().removeprefix("python-")
BINDER_VENV = ROOT / f".venv-{BINDER_PYTHON}"


def by_name(path: Path) -> str:
    return path.stem


def assert_clean(report):
    failures = report.failures
    assert not failures, f"{report.describe()}\n" + "\n".join(failures)
    slow = report.slowest
    assert slow is None or slow.seconds < CELL_LIMIT, (
        f"cell {slow.index} took {slow.seconds:.1f} s: {slow.source.splitlines()[0]}")


def test_the_collection_has_every_notebook():
    assert [p.stem for p in NOTEBOOKS] == EXPECTED


@pytest.mark.notebook
@pytest.mark.parametrize("path", NOTEBOOKS, ids=by_name)
def test_top_to_bottom_in_a_fresh_kernel(path, notebook_reports):
    report = run_fresh(path)
    notebook_reports.append(report)
    assert_clean(report)


@pytest.mark.notebook
@pytest.mark.parametrize("path", NOTEBOOKS, ids=by_name)
def test_run_all_queued_then_again_in_the_same_kernel(path, jupyter_server, notebook_reports):
    reports = run_all_queued(jupyter_server, path, rounds=2)
    notebook_reports.extend(reports)
    for report in reports:
        assert_clean(report)


def binder_python() -> Path:
    python = BINDER_VENV / "bin" / "python"
    if not (BINDER_VENV / ".test").exists():
        pytest.skip(f"no Python {BINDER_PYTHON} environment ({BINDER_VENV.name}): `make test` builds it "
                    f"when a python{BINDER_PYTHON} interpreter is on PATH or in pyenv")
    return python


@pytest.mark.notebook
@pytest.mark.parametrize("path", NOTEBOOKS, ids=by_name)
def test_top_to_bottom_on_binder_python(path, notebook_reports):
    report = run_fresh(path, python=str(binder_python()))
    notebook_reports.append(report)
    assert_clean(report)
    assert report.python.startswith(BINDER_PYTHON + "."), f"the kernel ran Python {report.python}"


UNIT_TESTS = sorted(p.name for p in (ROOT / "tests").glob("test_*.py")
                    if p.name not in {"test_notebooks.py", "test_harness.py", "test_repo.py", "test_package.py"})


@pytest.mark.parametrize("unit_tests", UNIT_TESTS)  # one file per test, so xdist spreads them
def test_helper_package_tests_pass_on_binder_python(unit_tests):
    python = binder_python()
    run = subprocess.run([str(python), "-m", "pytest", "-q", "-p", "no:cacheprovider", f"tests/{unit_tests}"],
                         cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout[-5000:] + run.stderr[-2000:]
