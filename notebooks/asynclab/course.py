"""An nbgrader course made from the notebooks' exercises: ``python -m asynclab.course DIR`` (or ``make course``).

DIR becomes an nbgrader course folder: ``nbgrader_config.py`` and ``source/NN_name/NN_name.ipynb``,
one assignment per section notebook (01..04), each holding that notebook's exercises section:

- a locked setup cell: the imports the lesson made before its exercises, the exercises themselves,
  and ``without_solutions(...)``, so that in the assignment ``qN.solution()`` says it is turned off
  while ``qN.hint()`` still works;
- each answer cell becomes an nbgrader *solution* cell: the notebook's own stub, then the reference
  solution between ``### BEGIN SOLUTION`` and ``### END SOLUTION``. ``nbgrader generate_assignment``
  removes the solution (the course's ``ClearSolutions.code_stub`` is empty), so students get the very
  stub the notebook has;
- each ``await qN.check()`` becomes a locked, autograded *test* cell worth ``POINTS`` that runs the
  same check again (the same judges: concurrency, cancellation, blocking, hangs) through ``graded()``
  and fails when it did not pass. It imports the exercise itself, so a submission that deleted
  ``qN`` still gets graded.

A hanging answer is stopped by the check itself after its time limit (5 s). One that blocks the
kernel for good is stopped by ``graded()`` after ``GRADING_LIMIT`` s, with a timer signal: an
interrupt from nbgrader would not do it (ipykernel turns it into a cancellation, which a blocked
loop never runs). nbgrader's own per-cell timeout (``Execute.timeout``, 30 s in the course's config)
stays the last resort.

The lesson notebooks come from the repository (they are not in the wheel): run this from a checkout.
"""

from __future__ import annotations

import argparse
import ast
import functools
import os
import signal
import sys
import threading
from pathlib import Path

from . import paths
from .exercises import output
from .exercises.core import Exercise

POINTS = 1  # per exercise
GRADING_LIMIT = 20.0  # s: a graded check that blocks the kernel longer is stopped (below Execute.timeout)
SECTION_NOTEBOOKS = ("01_async_for", "02_async_comprehensions", "03_async_with", "04_async_pool")
BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"

CONFIG = """\
# nbgrader's configuration for the asynclab course, written by `python -m asynclab.course`.
c = get_config()  # noqa: F821 -- nbgrader provides it

c.CourseDirectory.course_id = "asynclab"
# Each answer cell keeps the notebook's stub above its solution region: students get that stub alone.
c.ClearSolutions.code_stub = {"python": ""}
# Seconds per cell when autograding. A check stops an answer that hangs on its own after 5 s; this
# interrupts one that blocks the kernel for good (that test fails, the grading goes on).
c.Execute.timeout = 30
c.Execute.interrupt_on_timeout = True
"""

DISABLED = (
    "Solutions are turned off in this assignment: it is graded. "
    "`{label}.hint()` still gives hints, one at a time, and `await {label}.check()` tells you what to fix."
)


class BlockedTooLong(Exception):
    """Raised in the learner's code by ``graded()`` when it has blocked the kernel for too long."""


def _blocked_too_long(signum, frame):
    raise BlockedTooLong


async def graded(exercise: Exercise, *, limit: float | None = None) -> bool:
    """A test cell's check: ``await exercise.check()``, shown, and whether it passed.

    The check stops an answer that hangs on its own after its time limit, but not one that blocks the
    kernel (``time.sleep(3600)``): no ``await`` ever gives it back the event loop, and the kernel's
    interrupt only schedules a cancellation. Here a timer signal (Unix) raises in the blocked code
    after ``limit`` seconds, so the check ends, that exercise fails, and the rest of the notebook is
    graded. ``limit`` defaults to ``$ASYNCLAB_GRADING_LIMIT``, else ``GRADING_LIMIT``.
    """
    if limit is None:
        limit = float(os.environ.get("ASYNCLAB_GRADING_LIMIT") or GRADING_LIMIT)
    alarm = hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()
    previous = None
    if alarm:
        previous = signal.signal(signal.SIGALRM, _blocked_too_long)
        signal.setitimer(signal.ITIMER_REAL, limit)
    try:
        result = await exercise.check(show=False)
    finally:
        if alarm:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)
    if isinstance(result.error, BlockedTooLong):
        text = (
            f"✘ Not yet: your answer blocked the kernel for more than {limit:g} s, so grading stopped it. "
            "A blocking call (`time.sleep`, a busy loop) in async code stops everything else: "
            "`await asyncio.sleep(...)` waits without blocking."
        )
        output.show_text(text, text)
    else:
        result.show()
    return result.passed


def without_solutions(*exercises: Exercise) -> None:
    """In an assignment: ``solution()`` of each exercise says it is turned off instead of showing one."""
    for exercise in exercises:
        exercise.solution = functools.partial(_no_solution, exercise)  # type: ignore[method-assign]


def _no_solution(exercise: Exercise) -> str:
    text = DISABLED.format(label=exercise.label or "q")
    output.show_text(text, text)
    return output.Shown(text)


# --- building the course -------------------------------------------------------------------------


def _nbgrader(cell, grade_id: str, *, solution=False, grade=False, locked=False, points=None) -> None:
    meta = {"grade": grade, "grade_id": grade_id, "locked": locked, "schema_version": 3, "solution": solution}
    if points is not None:
        meta["points"] = points
    cell.metadata["nbgrader"] = meta


def _imports(cells) -> list[str]:
    """The module-level imports of these code cells, once each, in order (cells with magics are skipped)."""
    found: dict[str, None] = {}
    for cell in cells:
        if cell.cell_type != "code":
            continue
        try:
            tree = ast.parse(cell.source)
        except SyntaxError:
            continue
        for node in tree.body:
            if isinstance(node, ast.Import | ast.ImportFrom) and getattr(node, "module", None) != "__future__":
                found[ast.unparse(node)] = None
    return list(found)


def _defines(source: str) -> set[str]:
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return set()
    return {n.name for n in tree.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)}


def assignment(lesson: Path):
    """The assignment notebook (nbgrader's source version) made from one lesson notebook."""
    import importlib

    import nbformat

    nb = nbformat.read(lesson, as_version=4)
    starts = [i for i, c in enumerate(nb.cells) if c.cell_type == "markdown" and c.source.startswith("## Exercises")]
    if len(starts) != 1:
        raise ValueError(f"{lesson.name}: expected one '## Exercises' section")
    start = starts[0]
    end = next(
        (
            i
            for i in range(start + 1, len(nb.cells))
            if nb.cells[i].cell_type == "markdown" and nb.cells[i].source.startswith(("## ", "<!--"))
        ),
        len(nb.cells),
    )
    before, section = nb.cells[:start], nb.cells[start + 1 : end]
    setup_index = next(i for i, c in enumerate(section) if "from asynclab.exercises." in c.source)
    module_name = section[setup_index].source.split("from asynclab.exercises.")[1].split()[0]
    module = importlib.import_module(f".exercises.{module_name}", __package__)
    exercises = {
        label: value
        for label in getattr(module, "__all__", ())
        if isinstance(value := getattr(module, label), Exercise)
    }
    title = next(c.source.splitlines()[0][2:].strip() for c in before if c.source.startswith("# "))

    cells = [
        nbformat.v4.new_markdown_cell(
            f"# Exercises: {title}\n\n"
            f"This assignment holds the exercises of the notebook `{lesson.name}`; read that lesson first. "
            "Fill in each answer cell and run it, then run the check below it: `await q1.check()` tells you "
            "what is right or wrong, and `q1.hint()` gives one hint at a time. Solutions are turned off. "
            f"Each exercise is worth {POINTS} point(s): the grader runs the same checks on your submission."
        )
    ]
    install = next((c for c in before if c.cell_type == "code" and "%pip install" in c.source), None)
    if install is not None:
        cells.append(nbformat.v4.new_code_cell(install.source))
    lesson_imports = [line for line in _imports(before) if "asynclab" not in line]
    labels = ", ".join(exercises)
    setup = nbformat.v4.new_code_cell(
        "\n".join(lesson_imports)
        + "\n\n"
        + section[setup_index].source.strip()
        + "\nfrom asynclab.course import without_solutions\n\n"
        + f"without_solutions({labels})"
    )
    _nbgrader(setup, "setup", locked=True)
    cells.append(setup)

    by_name = {exercise.name: label for label, exercise in exercises.items()}
    for original in section[:setup_index] + section[setup_index + 1 :]:
        code = original.cell_type == "code"
        answered = [by_name[name] for name in _defines(original.source) if name in by_name] if code else []
        checked = [label for label in exercises if code and f"await {label}.check()" in original.source]
        if answered:
            (label,) = answered
            solution = exercises[label].solution_source()
            cell = nbformat.v4.new_code_cell(f"{original.source.rstrip()}\n{BEGIN}\n{solution.rstrip()}\n{END}")
            _nbgrader(cell, f"{label}_answer", solution=True)
        elif checked:
            (label,) = checked
            cell = nbformat.v4.new_code_cell(
                f"# Graded ({POINTS} point): the check of {label}, run again by the grader.\n"
                "from asynclab.course import graded\n"
                f"from asynclab.exercises.{module_name} import {label} as _exercise\n\n"
                f"assert await graded(_exercise), '{label} did not pass its check'"
            )
            _nbgrader(cell, f"{label}_check", grade=True, locked=True, points=POINTS)
        elif code:
            cell = nbformat.v4.new_code_cell(original.source)
        else:
            cell = nbformat.v4.new_markdown_cell(original.source)
        cells.append(cell)

    made = nbformat.v4.new_notebook(metadata={"kernelspec": nb.metadata.get("kernelspec", {})})
    if "language_info" in nb.metadata:
        made.metadata["language_info"] = {"name": nb.metadata["language_info"].get("name", "python")}
    made.cells = cells
    return made


def write_course(folder: Path, notebooks: tuple[str, ...] = SECTION_NOTEBOOKS) -> list[Path]:
    """Write the course folder; returns the assignment notebooks (source versions) it wrote."""
    import nbformat

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "nbgrader_config.py").write_text(CONFIG)
    written = []
    for stem in notebooks:
        lesson = paths.NOTEBOOKS_DIR / f"{stem}.ipynb"
        if not lesson.is_file():
            raise SystemExit(f"{lesson} not found: run this from a checkout of the repository")
        target = folder / "source" / stem / f"{stem}.ipynb"
        target.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(assignment(lesson), target)
        written.append(target)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m asynclab.course", description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path, help="the course folder to write (created if missing)")
    args = parser.parse_args(argv)
    written = write_course(args.folder)
    print(f"wrote {len(written)} assignments in {args.folder / 'source'}: " + ", ".join(p.parent.name for p in written))
    print(f"next: cd {args.folder} && nbgrader generate_assignment {written[0].parent.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
