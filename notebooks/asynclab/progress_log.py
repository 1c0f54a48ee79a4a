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
import json
import os
from pathlib import Path
from typing import Any

from .exercises import output

__all__ = ["data_dir", "log_path", "read_events", "record", "recording"]

DATA_DIR_VARIABLE = "ASYNCLAB_DATA_DIR"
SWITCH_VARIABLE = "ASYNCLAB_PROGRESS"
FILE_NAME = "progress.jsonl"
FORMAT = 1  # the "v" of every event


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
