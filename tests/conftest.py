"""Shared fixtures, and a closing summary of how long every notebook took.

The helper package is importable because pytest.ini puts notebooks/ on sys.path.
"""

import pytest

from nbharness import JupyterServer

NOTEBOOK_REPORTS = []  # filled by the notebook tests, printed at the end of the run
SLOW_CELL = 3.0  # seconds: the collection's promise for every cell (reported, not asserted)


@pytest.fixture(scope="session")
def jupyter_server():
    with JupyterServer() as server:
        yield server


@pytest.fixture
def notebook_reports():
    return NOTEBOOK_REPORTS


def pytest_terminal_summary(terminalreporter):
    if not NOTEBOOK_REPORTS:
        return
    write = terminalreporter.write_line
    terminalreporter.section("notebook run times")
    for report in NOTEBOOK_REPORTS:
        write(report.describe())
        for cell in report.cells:
            if cell.seconds is not None and cell.seconds > SLOW_CELL:
                write(f"    over {SLOW_CELL:.0f} s: cell {cell.index} took {cell.seconds:.2f} s: {cell.source.splitlines()[0][:60]}")
