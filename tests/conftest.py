"""Shared fixtures, and a closing summary of how long every notebook took.

The helper package is importable because pytest.ini puts notebooks/ on sys.path. Notebook tests
attach their timings to their test report, so the summary also works when pytest-xdist runs the
tests in worker processes.

Every check, hint and solution the tests run is recorded as progress (asynclab/progress_log.py):
``ASYNCLAB_DATA_DIR`` sends those records to a folder of this test process, set before any test
runs so that every kernel, Jupyter server and subprocess the tests start inherits it, and the
user's own data folder is never written.
"""

import os
import tempfile

import pytest
from nbharness import JupyterServer

_PROGRESS_DIR = tempfile.TemporaryDirectory(prefix="asynclab-progress-")  # removed when the run ends
os.environ["ASYNCLAB_DATA_DIR"] = _PROGRESS_DIR.name
os.environ.pop("ASYNCLAB_PROGRESS", None)  # recording on: the notebook tests run it too

SLOW_CELL = 3.0  # seconds: the collection's promise for every cell (reported, not asserted)
_TIMINGS = []  # collected from test reports, printed at the end of the run


@pytest.fixture(scope="session")
def jupyter_server():
    with JupyterServer() as server:
        yield server


@pytest.fixture
def notebook_reports(request):
    """Append RunReports here; their timings are printed at the end of the run."""
    reports = []
    yield reports
    for report in reports:
        lines = [report.describe()]
        lines += [
            f"    over {SLOW_CELL:.0f} s: cell {c.index} took {c.seconds:.2f} s: {c.source.splitlines()[0][:60]}"
            for c in report.cells
            if c.seconds is not None and c.seconds > SLOW_CELL
        ]
        request.node.user_properties.append(("notebook_run", "\n".join(lines)))


def pytest_runtest_logreport(report):
    if report.when == "teardown":
        _TIMINGS.extend(value for name, value in report.user_properties if name == "notebook_run")


def pytest_terminal_summary(terminalreporter):
    if _TIMINGS:
        terminalreporter.section("notebook run times")
        for text in sorted(_TIMINGS):
            terminalreporter.write_line(text)


# The longest tests (each runs notebooks or test files in another process, for minutes)
# start first, so that the test workers do not end the run waiting on one of them.
LONGEST_FIRST = (
    "test_pythons.py::test_helper_package_tests_pass_on_python",
    "test_pythons.py::test_notebooks_on_python",
    "test_stop_anywhere.py",
    "test_pythons.py::test_timeline_tests_pass_on_python",
    "test_package.py",
    "test_course.py",
    "test_answer_corpus.py",
    "test_notebooks.py",
)


def pytest_collection_modifyitems(items):
    def rank(item):
        return next((i for i, name in enumerate(LONGEST_FIRST) if name in item.nodeid), len(LONGEST_FIRST))

    items.sort(key=rank)  # stable: each group keeps its own order
