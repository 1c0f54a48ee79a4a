"""A blocked loop: a task step that runs so long that no other task can run meanwhile.

Which steps were too long is plain from the step log: a running span of ``blocked_ms`` or more
(``Timeline(blocked_ms=50)``). *What* blocked is not: by the time the step ends, the call that
blocked (``time.sleep(0.08)``, ``requests.get(...)``, a long loop) has returned. So while the
block records, a watchdog thread looks at the loop thread's stack a few times per threshold:

- Each look is cheap: ``sys._current_frames()`` and a walk down that thread's frames to the
  step timer's generator frame (``capture._timed_steps``), which is on the stack exactly while a
  recorded task runs a step. The start of that step is the last float the timer logged: the
  step timer does no extra work for the watchdog, and nothing is signalled per step.
- Only when one step is seen at two looks in a row (so it has run for a third of the
  threshold) is the stack *sampled*, and then at every look until the step ends: the innermost
  frame of the learner's code names the call it is in (``time.sleep``) and its line, and the
  call most samples name is the one reported.

The block's own task is not step-timed; when its coroutine's frame is on the stack at two looks
in a row without a recorded task's step above it, it is sampled the same way. Looking every
third of the threshold, a step that reaches the threshold is sampled before it ends.
"""

from __future__ import annotations

import ast
import linecache
import os
import sys
import threading
from bisect import bisect_right
from time import perf_counter as _clock
from types import FrameType
from typing import TYPE_CHECKING, Any

from .capture import BLOCK, STEP_TIMER_CODE, TracedCoroutine

if TYPE_CHECKING:
    import asyncio

    from .capture import TaskRecord

DEFAULT_BLOCKED_MS = 50.0
_MAX_DEPTH = 400  # frames walked per look: a deep recursion is not worth more
_CHECKS_PER_THRESHOLD = 3  # the watchdog looks every third of the threshold
# A long step is sampled at every look, up to this many times: the call it spent most looks in is
# the one that blocked, even when a busy machine delays a look until after that call returned.
_SAMPLES_PER_STEP = 30


class Watchdog:
    """Samples the loop thread's stack while a step runs long (a third of ``threshold`` seconds).

    ``samples`` holds ``(record index or BLOCK, time, "time.sleep, cell line 12")``: for a
    recorded task the time is its step's start (as logged), for the block's own task the time
    of the sample. ``looks`` counts the wake-ups, ``sampled`` the stack samples taken.
    """

    def __init__(
        self, block_task: asyncio.Task[Any] | None, records: list[TracedCoroutine | TaskRecord], threshold: float
    ) -> None:
        self.records = records  # the timeline's own list: tasks created in the block join it as they start
        self.threshold = threshold
        self._interval = threshold / _CHECKS_PER_THRESHOLD
        self.samples: list[tuple[int, float, str]] = []
        self.looks = 0
        self.sampled = 0
        self._thread_id = threading.get_ident()  # the loop's thread: we start inside the block
        coro = block_task.get_coro() if block_task is not None else None
        self._block_frame: FrameType | None = getattr(coro, "cr_frame", None)
        self._records: dict[int, TracedCoroutine] = {}  # id(timing frame) -> its record
        self._pending: set[int] = set()  # timing frames seen at the last look, not yet known
        self._block_since: float | None = None
        self._taken: dict[tuple[int, float], int] = {}  # (record index, step start) -> samples taken
        self._block_taken = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="asynclab-timeline-watchdog", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.ident != threading.get_ident():
            self._thread.join()
        # Keep nothing of the block's frames or tasks alive after the block.
        self._block_frame = None
        self._records = {}

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self.looks += 1
            frame = sys._current_frames().get(self._thread_id)
            if frame is not None:
                try:
                    self._look(frame)
                except Exception:  # a frame changing under us: look again next time
                    pass
            del frame

    def _look(self, top: FrameType) -> None:
        frame: FrameType | None = top
        depth = 0
        unknown: set[int] = set()  # timing frames not known yet (another timeline's, or new)
        while frame is not None and depth < _MAX_DEPTH:
            if frame.f_code is STEP_TIMER_CODE:
                record = self._record_of(frame)
                if record is not None:
                    self._pending = set()
                    self._block_since = None
                    self._check_step(record, top, frame)
                    return
                unknown.add(id(frame))
            elif self._block_frame is not None and frame is self._block_frame:
                if not unknown:
                    self._check_block(top, frame)
                    self._pending = set()
                    return
                break
            frame = frame.f_back
            depth += 1
        self._pending = unknown
        self._block_since = None

    def _record_of(self, frame: FrameType) -> TracedCoroutine | None:
        """The record whose step timer runs in ``frame``, if it is this timeline's; looked up
        only for a frame seen at the previous look too (a step seen once may be short)."""
        key = id(frame)
        record = self._records.get(key)
        if record is not None or key not in self._pending:
            return record
        for candidate in list(self.records):
            if isinstance(candidate, TracedCoroutine) and candidate.steps_in(frame):
                record = candidate
                self._records[key] = record
                return record
        return None

    def _check_step(self, record: TracedCoroutine, top: FrameType, timing: FrameType) -> None:
        steps = record.steps
        if not steps:
            return
        start = steps[-1]
        if type(start) is not float or _clock() - start < self._interval * 0.9:
            return
        key = (record.index, start)
        taken = self._taken.get(key, 0)
        if taken >= _SAMPLES_PER_STEP:
            return
        self._taken[key] = taken + 1
        self.sampled += 1
        self.samples.append((record.index, start, describe_blocking(top, timing)))

    def _check_block(self, top: FrameType, block_frame: FrameType) -> None:
        now = _clock()
        if self._block_since is None:
            self._block_since = now
            self._block_taken = 0
            return
        if now - self._block_since >= self._interval * 0.9 and self._block_taken < _SAMPLES_PER_STEP:
            self._block_taken += 1
            self.sampled += 1
            self.samples.append((BLOCK, now, describe_blocking(top, block_frame.f_back)))


# -- naming the blocking call --------------------------------------------------------------


def describe_blocking(top: FrameType, stop: FrameType | None) -> str:
    """``"time.sleep, cell line 12"``: the call the learner's innermost frame above ``stop``
    is in (or its function, in a long loop of its own), and where."""
    from .waits import _frame

    frames: list[FrameType] = []
    frame: FrameType | None = top
    while frame is not None and frame is not stop and len(frames) < _MAX_DEPTH:
        frames.append(frame)
        frame = frame.f_back
    if not frames:
        return "?"
    user = next((f for f in frames if not _frame(f.f_code).is_library), None)
    if user is None:
        user = frames[0]
    call = _call_in(user)
    if call is None:
        above = frames[: frames.index(user)]
        call = _frame(above[-1].f_code).qualname if above else _frame(user.f_code).qualname
    return f"{call}, {where(user.f_code.co_filename)} line {user.f_lineno}"


def _call_in(frame: FrameType) -> str | None:
    """The function the instruction running in ``frame`` calls (``time.sleep``), or None."""
    code = frame.f_code
    try:
        positions = list(code.co_positions())
        line, end_line, column, end_column = positions[frame.f_lasti // 2]
    except (AttributeError, IndexError, ValueError):
        return None
    if line is None or end_line is None or column is None or end_column is None:
        return None
    lines = linecache.getlines(code.co_filename, frame.f_globals)[line - 1 : end_line]
    if not lines:
        return None
    encoded = [text.encode("utf-8") for text in lines]
    if len(encoded) == 1:
        source = encoded[0][column:end_column]
    else:
        source = b"".join([encoded[0][column:], *encoded[1:-1], encoded[-1][:end_column]])
    try:
        node = ast.parse(source.decode("utf-8", "replace").strip(), mode="eval").body
    except SyntaxError:
        return None
    while isinstance(node, ast.Await):
        node = node.value
    if isinstance(node, ast.Call):
        return ast.unparse(node.func)
    return None


def where(filename: str) -> str:
    """The place of a file in a label: "cell" for a notebook cell, else the file's name."""
    if "ipykernel_" in filename or filename.startswith("<ipython-input"):
        return "cell"
    return os.path.basename(filename)


def blocked_spans(running: tuple[list, list, list], threshold: float) -> list[tuple[int, float, float]]:
    """(lane, start, end) of every running span of ``threshold`` seconds or more during which
    no other lane's step started (one that did ran a loop nested in it: nest_asyncio2)."""
    long = [(lane, start, end) for lane, start, end in zip(*running) if end - start >= threshold]
    if not long:
        return long
    starts = sorted(zip(running[1], running[0]))
    out = []
    for lane, start, end in long:
        i = bisect_right(starts, (start, float("inf")))
        nested = False
        while i < len(starts) and starts[i][0] < end:
            if starts[i][1] != lane:
                nested = True
                break
            i += 1
        if not nested:
            out.append((lane, start, end))
    return out


def label(milliseconds: float, lane: str, call: str | None) -> str:
    """``"loop blocked 80 ms: worker-2 at time.sleep, cell line 12"``."""
    text = f"loop blocked {milliseconds:.0f} ms: {lane}"
    return text if call is None else f"{text} at {call}"
