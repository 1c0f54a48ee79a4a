"""Every notebook, run the three ways a learner runs it, with zero errors and zero warnings."""

from pathlib import Path

import diagram_checks
import pytest
from checkout import NOTEBOOKS_DIR
from nbharness import run_all_queued, run_fresh

EXPECTED = [
    "00_start_here",
    "01_async_for",
    "02_async_comprehensions",
    "03_async_with",
    "04_async_pool",
    "05_cancellation_and_cleanup",
]
NOTEBOOKS = sorted(NOTEBOOKS_DIR.glob("[0-9][0-9]_*.ipynb"))
CELL_LIMIT = 10.0  # seconds; a loose bound against a runaway cell (the 3 s promise is reported)


def by_name(path: Path) -> str:
    return path.stem


def assert_clean(report):
    failures = report.failures
    assert not failures, f"{report.describe()}\n" + "\n".join(failures)
    slow = report.slowest
    assert slow is None or slow.seconds < CELL_LIMIT, (
        f"cell {slow.index} took {slow.seconds:.1f} s: {slow.source.splitlines()[0]}"
    )


def test_the_collection_has_every_notebook():
    assert [p.stem for p in NOTEBOOKS] == EXPECTED


@pytest.mark.notebook
@pytest.mark.parametrize("path", NOTEBOOKS, ids=by_name)
def test_top_to_bottom_in_a_fresh_kernel(path, notebook_reports):
    """One cell at a time, each sent when the one before has finished, as a learner steps through."""
    report = run_fresh(path)
    notebook_reports.append(report)
    assert_clean(report)


@pytest.mark.notebook
@pytest.mark.parametrize("path", NOTEBOOKS, ids=by_name)
def test_run_all_queued_then_again_in_the_same_kernel(path, jupyter_server, notebook_reports):
    """Round one runs in the fresh kernel the server starts, and every diagram it draws reads at a
    glance: no label covers another (diagram_checks). Round two runs the notebook again in that kernel."""
    reports = run_all_queued(
        jupyter_server,
        path,
        rounds=2,
        extra_setup=diagram_checks.KERNEL_SETUP,
        after_first_round=diagram_checks.KERNEL_REPORT,
    )
    notebook_reports.extend(reports)
    for report in reports:
        assert_clean(report)
    diagram_checks.assert_every_diagram_reads(reports[0])
