"""The learner's progress: what every ``check()``, ``hint()`` and ``solution()`` did, kept between sessions.

``asynclab.progress()`` shows it: one row per notebook with the exercises solved, tried and not
started, and the hints and solutions used (an HTML table in Jupyter, plain text elsewhere). It
returns a ``Progress`` object with the same data.

Where it is kept
----------------
``progress.jsonl`` in the user's data folder (``platformdirs.user_data_dir("asynclab")``, e.g.
``~/.local/share/asynclab`` on Linux), so the record survives kernel restarts and new clones of the
repository. ``ASYNCLAB_DATA_DIR`` points it at another folder; ``ASYNCLAB_PROGRESS=off`` stops
recording (``progress()`` still shows what was recorded before).

How it is written: an append-only log, one JSON object per line
-----------------------------------------------------------------
Every event is one line, written by a single ``os.write`` on a file opened with ``O_APPEND``:

- **Two kernels at once.** With ``O_APPEND`` the operating system puts each write at the end of the
  file as it happens, so two kernels appending at the same moment add two whole lines, in either
  order, and lose neither (on Linux and macOS local file systems, and between processes of one
  machine on NFS). Nothing is ever read, merged and written back, so there is no lost update to
  guard against, no lock to wait for or to leave behind, and no temp file.
- **A torn or corrupted file.** A crash or a full disk can leave a last line cut short; an editor
  or a bad copy can leave anything. Reading skips every line that is not a complete event (and
  counts them); writing starts a new line first when the file does not end with one, so a torn
  line never swallows the next event. (That look at the last byte can catch another kernel's line
  half-written and add a blank line, which reading ignores too.)
- **Small.** About 150 bytes per event: a whole course of checks, hints and solutions is tens of
  kilobytes.

Failure is never the learner's problem: ``record()`` never raises. When the folder cannot be made
or the file cannot be written (read-only, a path through a file, a full disk), the event is
skipped, and the first time in a kernel one line says so, shown the way the exercises show text
(never on stderr).
"""

from __future__ import annotations

import datetime as dt
import html
import importlib
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .exercises import output

__all__ = ["ExerciseProgress", "NotebookProgress", "Progress", "data_dir", "log_path", "progress", "record"]

DATA_DIR_VARIABLE = "ASYNCLAB_DATA_DIR"
SWITCH_VARIABLE = "ASYNCLAB_PROGRESS"
FILE_NAME = "progress.jsonl"
FORMAT = 1  # the "v" of every event
NOTEBOOKS = ("nb01", "nb02", "nb03", "nb04")  # exercise modules with a notebook, in reading order

SOLVED, TRIED, NOT_STARTED = "solved", "tried", "not started"
_TRIED_OUTCOMES = ("failed", "error")

_told = False  # the one line about a skipped record, once per kernel


def recording() -> bool:
    """False when ``ASYNCLAB_PROGRESS`` says off (``off``, ``0``, ``false``, ``no``)."""
    return os.environ.get(SWITCH_VARIABLE, "").strip().lower() not in ("off", "0", "false", "no")


def data_dir() -> Path:
    """``$ASYNCLAB_DATA_DIR``, or the user's data folder for asynclab."""
    chosen = os.environ.get(DATA_DIR_VARIABLE, "").strip()
    if chosen:
        return Path(chosen).expanduser()
    import platformdirs

    return Path(platformdirs.user_data_dir("asynclab", appauthor=False))


def log_path() -> Path:
    return data_dir() / FILE_NAME


def exercise_id(exercise) -> str:
    """``nb03.q2``: the exercise module's last name and the exercise's variable (or its answer's name)."""
    module = (getattr(exercise, "_module", None) or "?").rpartition(".")[2]
    return f"{module}.{exercise.label or exercise.name}"


# --- writing -------------------------------------------------------------------------------------


def record(exercise, event: str, **details: Any) -> bool:
    """Append one event (``check`` with ``outcome``, ``hint`` with ``hint``, ``solution``); never raises.

    Returns whether it was written. Called by the exercises (core.py), after they have shown their output.
    """
    try:
        if not recording():
            return False
        entry = {
            "v": FORMAT,
            "time": dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds"),
            "exercise": exercise_id(exercise),
            "name": exercise.name,
            "event": event,
            **details,
        }
        line = json.dumps(entry, ensure_ascii=False, default=str) + "\n"
    except Exception as exc:  # an odd exercise or detail: still never the learner's problem
        _tell(f"{type(exc).__name__}: {exc}")
        return False
    path = None
    try:
        path = log_path()
        path.parent.mkdir(parents=True, exist_ok=True)
        _append(path, line.encode("utf-8"))
        return True
    except Exception as exc:  # OSError mostly; anything else must not reach the learner either
        _tell(f"could not write {path or 'the progress file'} ({_reason(exc)})")
        return False


def _append(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT | getattr(os, "O_BINARY", 0), 0o644)
    try:
        size = os.fstat(fd).st_size
        if size:
            os.lseek(fd, size - 1, os.SEEK_SET)  # O_APPEND still writes at the end, whatever the position
            if os.read(fd, 1) != b"\n":
                data = b"\n" + data  # a torn last line stays a line of its own
        written = os.write(fd, data)
        if written != len(data):  # a full disk: the rest would be a torn line, which reading skips
            raise OSError(f"only {written} of {len(data)} bytes written")
    finally:
        os.close(fd)


def _reason(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return f"{type(exc).__name__}: {exc}"


def _tell(why: str) -> None:
    global _told
    if _told:
        return
    _told = True
    text = (
        f"(Your progress was not saved: {why}. Your answer is checked all the same. "
        f"Set {DATA_DIR_VARIABLE} to a folder you can write to, or {SWITCH_VARIABLE}=off to stop recording.)"
    )
    try:
        output.show_text(text, f"<small>{html.escape(text)}</small>")
    except Exception:
        pass


# --- reading -------------------------------------------------------------------------------------


def read_events(path: Path) -> tuple[list[dict], int]:
    """The events in the log, and how many lines were skipped as unreadable. Raises OSError."""
    events, skipped = [], 0
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return [], 0
    for line in raw.split(b"\n"):
        if not line.strip():
            continue
        try:
            event = json.loads(line.decode("utf-8"))
        except ValueError:  # UnicodeDecodeError and JSONDecodeError both
            skipped += 1
            continue
        if (
            isinstance(event, dict)
            and isinstance(event.get("exercise"), str)
            and event.get("event") in ("check", "hint", "solution")
        ):
            events.append(event)
        else:
            skipped += 1
    return events, skipped


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
        from .exercises.core import Exercise

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
