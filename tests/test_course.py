"""The nbgrader course (asynclab/course.py), end to end with the real nbgrader and its SQLite gradebook.

nbgrader comes from requirements-course.txt, which `make test` installs into .venv. The class is
simulated on one assignment (03: every kind of judge, including cancellation and concurrency); the
course generation is checked for all four.
"""

from __future__ import annotations

import csv
import os
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest
from asynclab import course
from asynclab.exercises import nb03
from nbharness import NOTEBOOKS_DIR

pytest.importorskip("nbgrader", reason="nbgrader is not installed: pip install -r requirements-course.txt")
# One test worker runs the whole module: the course folder is built once (a module fixture).
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("course")]

CELL_TIMEOUT = 30  # s: nbgrader's per-cell timeout, as in the course's config
GRADING_LIMIT = 6  # s: graded() stops an answer blocking the kernel this soon (20 s in a course)
ASSIGNMENT = "03_async_with"


def nbgrader(folder: Path, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])  # nbgrader runs `alembic`
    env["ASYNCLAB_GRADING_LIMIT"] = str(GRADING_LIMIT)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(NOTEBOOKS_DIR), env.get("PYTHONPATH")]))  # the kernels'
    done = subprocess.run(
        [sys.executable, "-m", "nbgrader", *args], cwd=folder, env=env, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, f"nbgrader {' '.join(args)}:\n{done.stdout[-3000:]}\n{done.stderr[-5000:]}"
    return done


def cells_by_id(nb) -> dict:
    return {c.metadata["nbgrader"]["grade_id"]: c for c in nb.cells if "nbgrader" in c.metadata}


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    folder = tmp_path_factory.mktemp("course")
    subprocess.run(
        [sys.executable, "-m", "asynclab.course", str(folder)], cwd=NOTEBOOKS_DIR, check=True, capture_output=True
    )
    nbgrader(folder, "generate_assignment", "*")  # every assignment in source/, into the gradebook
    return folder


def test_the_reference_solutions_pass_every_graded_check(generated):
    # nbgrader's own validation runs the instructor's version of each notebook in a kernel.
    notebooks = sorted(str(p) for p in (generated / "source").glob("*/*.ipynb"))
    assert len(notebooks) == 4
    done = nbgrader(generated, "validate", *notebooks)
    assert done.stdout.count("Success! Your notebook passes all the tests.") == 4, done.stdout[-3000:]


@pytest.mark.parametrize("stem", course.SECTION_NOTEBOOKS)
def test_every_section_notebook_becomes_an_assignment(generated, stem):
    import importlib

    lesson = nbformat.read(NOTEBOOKS_DIR / f"{stem}.ipynb", as_version=4)
    source = nbformat.read(generated / "source" / stem / f"{stem}.ipynb", as_version=4)
    release = nbformat.read(generated / "release" / stem / f"{stem}.ipynb", as_version=4)
    module = importlib.import_module(f"asynclab.exercises.nb{stem[:2]}")
    labels = [label for label in module.__all__ if isinstance(getattr(module, label), course.Exercise)]
    source_cells, release_cells = cells_by_id(source), cells_by_id(release)
    assert set(release_cells) == {"setup"} | {f"{q}_answer" for q in labels} | {f"{q}_check" for q in labels}
    assert "without_solutions(" in release_cells["setup"].source and release_cells["setup"].metadata.nbgrader.locked

    lesson_code = [c.source for c in lesson.cells if c.cell_type == "code"]
    for label in labels:
        exercise = getattr(module, label)
        released = release_cells[f"{label}_answer"].source.rstrip("\n")
        assert released in lesson_code, f"{label}: the student's cell is not the notebook's stub"
        assert course.BEGIN not in released and exercise.solution_source().strip() not in released
        solution = source_cells[f"{label}_answer"].source.split(course.BEGIN + "\n")[1].split(course.END)[0]
        assert solution.strip() == exercise.solution_source().strip()
        check = release_cells[f"{label}_check"]
        assert check.metadata.nbgrader.grade and check.metadata.nbgrader.points == course.POINTS
        assert f"import {label} as _exercise" in check.source and "await graded(_exercise)" in check.source


# --- a class: every kind of submission, autograded, exported --------------------------------------

WRONG = {  # the common wrong answers
    "q1": """
@contextlib.asynccontextmanager
async def timed(label, log):
    start = time.perf_counter()
    yield                                   # no try/finally: nothing recorded when the block fails
    log.append((label, time.perf_counter() - start))
""",
    "q2": """
async def fetch_all_limited(fetch, urls, limit):
    return [await fetch(url) for url in urls]   # one call after another
""",
    "q4": """
class Borrow:
    def __init__(self, pool):
        self.pool = pool

    async def __aenter__(self):
        self.conn = await self.pool.acquire()
        return self.conn

    async def __aexit__(self, exc_type, exc, tb):
        if exc_type is None:                  # given back only when the block went well
            await self.pool.release(self.conn)
""",
}
HANGS = """
async def fetch_all_limited(fetch, urls, limit):
    await asyncio.sleep(3600)                 # never finishes
"""
BLOCKS_FOR_GOOD = """
@contextlib.asynccontextmanager
async def atomic(db):
    time.sleep(3600)                          # blocks the kernel: only the cell timeout stops it
    yield
"""
TIME_SLEEP = """
async def fetch_all_limited(fetch, urls, limit):
    semaphore = asyncio.Semaphore(limit)

    async def fetch_one(url):
        async with semaphore:
            time.sleep(0.2)                   # blocks the event loop
            return await fetch(url)

    return await asyncio.gather(*(fetch_one(url) for url in urls))
"""
DELETES_HELPERS = "\ndel q1, q2, q3, q4\n"
RAISES = 'raise RuntimeError("half-written answer")\n'


def right(label: str) -> str:
    return getattr(nb03, label).solution_source()


EXERCISES = [label for label in nb03.__all__ if label.startswith("q")]  # q1..q5, one point each

CLASS = {  # student: (answers by exercise; a missing one keeps the stub), expected points per exercise
    "ada": ({q: right(q) for q in EXERCISES}, [1, 1, 1, 1, 1]),
    "ben": ({**WRONG, "q3": right("q3")}, [0, 0, 1, 0, 0]),
    "cleo": ({}, [0, 0, 0, 0, 0]),
    "dan": ({"q1": right("q1"), "q2": HANGS, "q3": BLOCKS_FOR_GOOD, "q4": right("q4")}, [1, 0, 0, 1, 0]),
    "eve": ({"q1": right("q1"), "q2": TIME_SLEEP, "q3": right("q3"), "q4": right("q4")}, [1, 0, 1, 1, 0]),
    "finn": ({"q1": right("q1") + DELETES_HELPERS, "q2": RAISES + right("q2"), "q3": right("q3")}, [1, 0, 1, 0, 0]),
}


def submit(folder: Path, student: str, answers: dict[str, str]) -> None:
    nb = nbformat.read(folder / "release" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", as_version=4)
    cells = cells_by_id(nb)
    for label, answer in answers.items():
        cells[f"{label}_answer"].source = answer.strip() + "\n"
    target = folder / "submitted" / student / ASSIGNMENT
    target.mkdir(parents=True)
    nbformat.write(nb, target / f"{ASSIGNMENT}.ipynb")
    (target / "timestamp.txt").write_text("2026-12-01 10:00:00.000000 UTC")


def test_a_class_is_autograded_and_exported(generated, capsys):
    for student, (answers, _) in CLASS.items():
        submit(generated, student, answers)
    started = time.perf_counter()
    nbgrader(generated, "autograde", ASSIGNMENT, f"--Execute.timeout={CELL_TIMEOUT}")
    per_student = (time.perf_counter() - started) / len(CLASS)
    nbgrader(generated, "export")
    nbgrader(generated, "export", "--exporter=asynclab.course_export.ExerciseScores", "--to=exercises.csv")

    with open(generated / "exercises.csv", newline="") as f:
        exported = [row for row in csv.DictReader(f) if row["assignment"] == ASSIGNMENT]
    scores = {student: [0.0] * len(EXERCISES) for student in CLASS}
    for row in exported:
        assert row["max_score"] == "1"
        scores[row["student_id"]][int(row["exercise"].removeprefix("q")) - 1] = float(row["score"])
    assert len(exported) == len(EXERCISES) * len(CLASS)
    assert scores == {student: expected for student, (_, expected) in CLASS.items()}

    from nbgrader.api import Gradebook  # the same scores, straight from the SQLite gradebook

    with Gradebook(f"sqlite:///{generated / 'gradebook.db'}") as gradebook:
        assert {
            student: [
                gradebook.find_grade(f"q{n}_check", ASSIGNMENT, ASSIGNMENT, student).score
                for n in range(1, len(EXERCISES) + 1)
            ]
            for student in CLASS
        } == scores

    with open(generated / "grades.csv", newline="") as f:
        rows = {row["student_id"]: row for row in csv.DictReader(f) if row["assignment"] == ASSIGNMENT}
    assert {s: float(r["score"]) for s, r in rows.items()} == {s: float(sum(e)) for s, (_, e) in CLASS.items()}
    assert {float(r["max_score"]) for r in rows.values()} == {float(len(EXERCISES))}

    feedback = nbformat.read(generated / "autograded" / "ben" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", as_version=4)
    text = "".join(str(o.get("text", o.get("data", ""))) for c in feedback.cells for o in c.get("outputs", []))
    assert "✘ Not yet" in text and "✔ Correct!" in text  # the student sees the checks' own verdicts
    with capsys.disabled():
        print(f"\n  autograde: {per_student:.1f} s per student ({len(CLASS)} students, {ASSIGNMENT})")


def test_in_the_assignment_solution_is_turned_off_and_hint_stays(capsys):
    exercise = course.Exercise("answer", hints=["a first hint"], solution="answer = 42")
    course.without_solutions(exercise)
    shown = exercise.solution()
    assert "Solutions are turned off" in shown and "42" not in capsys.readouterr().out
    assert "a first hint" in exercise.hint()
