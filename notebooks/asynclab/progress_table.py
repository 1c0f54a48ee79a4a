"""``asynclab.progress()``: the learner's record (``progress_log``) as a table, one row per notebook.

Each row gives the exercises solved, tried and not started, and the hints and solutions used (an
HTML table in Jupyter, plain text elsewhere); ``progress()`` returns a ``Progress`` object with the
same data. The exercises come from the exercise modules; the events from ``progress_log``, which
writes them and knows nothing of this table, so ``exercises.core`` can record without a cycle.
"""

from __future__ import annotations

import datetime as dt
import html
import importlib
import re
from dataclasses import dataclass, field
from pathlib import Path

from .exercises import output
from .exercises.core import Exercise
from .progress_log import SWITCH_VARIABLE, _reason, log_path, read_events, recording

__all__ = ["ExerciseProgress", "NotebookProgress", "Progress", "progress"]

NOTEBOOKS = ("nb01", "nb02", "nb03", "nb04", "nb05")  # exercise modules with a notebook, in reading order

SOLVED, TRIED, NOT_STARTED = "solved", "tried", "not started"
_TRIED_OUTCOMES = ("failed", "error")


@dataclass
class ExerciseProgress:
    """One exercise: ``status`` is ``"solved"``, ``"tried"`` or ``"not started"``."""

    exercise: str  # "nb03.q2"
    name: str = ""  # what the learner defines
    status: str = NOT_STARTED
    checks: int = 0  # checks run (a stub's "not answered yet" included)
    hints: int = 0  # different hints seen
    hints_total: int | None = None
    solution: bool = False  # the solution was shown
    last: dt.datetime | None = None  # the latest event

    @property
    def label(self) -> str:
        return self.exercise.rpartition(".")[2]


@dataclass
class NotebookProgress:
    notebook: str  # "nb03"
    title: str  # "03 · async with"
    exercises: list[ExerciseProgress] = field(default_factory=list)

    def _with(self, status):
        return [e.label for e in self.exercises if e.status == status]

    @property
    def solved(self) -> list[str]:
        return self._with(SOLVED)

    @property
    def tried(self) -> list[str]:
        return self._with(TRIED)

    @property
    def not_started(self) -> list[str]:
        return self._with(NOT_STARTED)

    @property
    def hints(self) -> int:
        return sum(e.hints for e in self.exercises)

    @property
    def solutions(self) -> list[str]:
        return [e.label for e in self.exercises if e.solution]

    @property
    def last(self) -> dt.datetime | None:
        return max((e.last for e in self.exercises if e.last), default=None)


@dataclass
class Progress:
    """What ``asynclab.progress()`` shows: ``.notebooks`` in reading order, ``.exercises`` by id."""

    notebooks: list[NotebookProgress]
    exercises: dict[str, ExerciseProgress]  # every exercise recorded, "nb01.q1" -> ..., and those not started
    path: Path | None
    recording: bool
    skipped_lines: int = 0
    problem: str = ""  # why the log could not be read, when it could not
    _shown: bool = field(default=False, repr=False, compare=False)

    def __getitem__(self, notebook: str) -> NotebookProgress:
        for found in self.notebooks:
            if found.notebook == notebook:
                return found
        raise KeyError(notebook)

    # --- the table

    HEADINGS = ("Notebook", "Solved", "Tried", "Not started", "Hints used", "Solutions seen", "Last worked on")

    def rows(self) -> list[tuple[str, ...]]:
        def some(labels, total):
            return f"{len(labels)} of {total}" + (f" ({', '.join(labels)})" if labels and len(labels) < total else "")

        rows: list[tuple[str, ...]] = []
        for nb in self.notebooks:
            total = len(nb.exercises)
            last = nb.last.astimezone().strftime("%Y-%m-%d %H:%M") if nb.last else ""
            rows.append(
                (
                    nb.title,
                    some(nb.solved, total),
                    some(nb.tried, total),
                    some(nb.not_started, total),
                    str(nb.hints),
                    some(nb.solutions, total),
                    last,
                )
            )
        return rows

    def notes(self) -> list[str]:
        notes = []
        if self.problem:
            notes.append(f"Your progress could not be read: {self.problem}.")
        elif self.path is not None and self.recording:
            notes.append(f"Kept in {self.path}.")
        if self.skipped_lines:
            notes.append(f"{self.skipped_lines} unreadable line(s) in {self.path} were skipped.")
        if not self.recording:
            notes.append(f"Recording is off ({SWITCH_VARIABLE}=off): checks, hints and solutions are not recorded.")
        return notes

    def __str__(self) -> str:
        table = [self.HEADINGS, *self.rows()]
        widths = [max(len(row[i]) for row in table) for i in range(len(self.HEADINGS))]
        lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in table]
        lines.insert(1, "  ".join("-" * w for w in widths))
        return "\n".join(["Your progress", *lines, *self.notes()])

    def _repr_html_(self) -> str:
        head = "".join(f"<th>{html.escape(h)}</th>" for h in self.HEADINGS)
        body = "".join(
            "<tr>" + "".join(f"<td>{html.escape(cell)}</td>" for cell in row) + "</tr>" for row in self.rows()
        )
        notes = "".join(f"<br><small>{html.escape(note)}</small>" for note in self.notes())
        return (
            f'<div class="asynclab-progress"><strong>Your progress</strong>'
            f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>{notes}</div>"
        )

    def show(self) -> None:
        shell = output.ipython_shell()
        if shell is None:
            print(str(self), flush=True)
        else:
            from IPython.display import display

            display({"text/plain": str(self), "text/html": self._repr_html_()}, raw=True)
        self._shown = True

    def _ipython_display_(self):
        if self._shown:  # `asynclab.progress()` as a cell's last line: shown once already
            self._shown = False
            return
        self.show()


def progress(*, show: bool = True) -> Progress:
    """Your progress through the notebooks' exercises: solved, tried, not started, hints and solutions used.

    Shows a table (HTML in Jupyter, plain text elsewhere) unless ``show=False``, and returns it as a
    ``Progress``. Never raises: when the record cannot be read, the table says why.
    """
    path: Path | None = None
    events: list[dict] = []
    skipped, problem = 0, ""
    try:
        path = log_path()
        events, skipped = read_events(path)
    except Exception as exc:
        problem = _reason(exc)
    found = summarize(events, catalog())
    found.path, found.skipped_lines, found.problem = path, skipped, problem
    if show:
        found.show()
    return found


def catalog() -> list[NotebookProgress]:
    """Every notebook's exercises, from the exercise modules (empty progress)."""
    notebooks = []
    for name in NOTEBOOKS:
        try:
            module = importlib.import_module(f".exercises.{name}", __package__)
        except Exception:  # a broken install: show the rest
            continue
        match = re.search(r"notebook (\d+) \((.+?)\)", module.__doc__ or "")
        title = f"{match[1]} · {match[2]}" if match else name
        nb = NotebookProgress(name, title)

        for label in getattr(module, "__all__", ()):
            value = getattr(module, label, None)
            if isinstance(value, Exercise):
                nb.exercises.append(ExerciseProgress(f"{name}.{label}", name=value.name, hints_total=len(value.hints)))
        notebooks.append(nb)
    return notebooks


def summarize(events: list[dict], notebooks: list[NotebookProgress]) -> Progress:
    """Fold the events into each exercise's progress (pure: the tests call it on hand-made events)."""
    exercises = {e.exercise: e for nb in notebooks for e in nb.exercises}
    hints_seen: dict[str, set] = {}
    for event in events:
        key = event["exercise"]
        found = exercises.get(key)
        if found is None:
            found = exercises[key] = ExerciseProgress(key, name=str(event.get("name", "")))
        kind = event["event"]
        if kind == "check":
            found.checks += 1
            outcome = event.get("outcome")
            if outcome == "passed":
                found.status = SOLVED
            elif outcome in _TRIED_OUTCOMES and found.status != SOLVED:
                found.status = TRIED
        elif kind == "hint" and isinstance(event.get("hint"), int):
            hints_seen.setdefault(key, set()).add(event["hint"])
            found.hints = len(hints_seen[key])
        elif kind == "solution":
            found.solution = True
        when = _parse_time(event.get("time"))
        if when and (found.last is None or when > found.last):
            found.last = when
    return Progress(notebooks, exercises, path=None, recording=recording())


def _parse_time(value) -> dt.datetime | None:
    if not isinstance(value, str):
        return None
    try:
        when = dt.datetime.fromisoformat(value)
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=dt.UTC)
