"""Turning what was recorded into lanes and spans (times in seconds from the timeline's start).

Raw records are cheap to write and are only made readable here, when something reads them:
task names are looked up now (a TaskGroup names its tasks after creating them), the step logs
become "running" spans and the gaps between steps become "waiting" spans labelled with what the
task awaited.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterable
from dataclasses import dataclass
from time import perf_counter as _clock
from typing import Any

from . import phases
from .block_task import BlockRecord
from .capture import BLOCK, TaskRecord, TracedCoroutine

# A span given to tl.span()/add_spans(): [lane key, kind, label, start, end or None while open],
# and a mark: (lane key, label, time). A lane key is a record's index (BLOCK: the block's task)
# or a lane name.
LaneKey = int | str
UserSpan = list[Any]
UserMark = tuple[LaneKey, str, float]

_DEFAULT_TASK_NAME = re.compile(r"Task-\d+\Z")


@dataclass
class Span:
    """One bar of the diagram.

    ``kind`` is "running" (the task's code ran), "waiting" (suspended; ``label`` says on what:
    "sleep", "Lock.acquire", "anext(ticker)", ...) or a kind given to ``tl.span()`` /
    ``tl.add_spans()`` such as "phase" or "server". ``start``/``end`` are seconds from the
    timeline's start.
    """

    lane: str
    kind: str
    label: str
    start: float
    end: float

    @property
    def duration(self) -> float:
        return self.end - self.start


@dataclass
class TaskInfo:
    """One task seen by the timeline. Times are seconds from the timeline's start.

    ``outcome`` is "result", "exception" or "cancelled" once the task finished inside the
    block, None if it was still running when the block ended. For the block's own task
    (``block=True``), ``done``/``outcome`` tell how the block ended. ``library`` names the
    installed package whose own task this is (aiohttp closing a connection), else None.
    """

    name: str
    parent: str | None
    created: float
    done: float | None
    outcome: str | None
    exception: str | None
    coro: str
    lane: str
    block: bool = False
    library: str | None = None


@dataclass
class Lane:
    name: str
    axis_label: str
    task: TaskInfo | None = None


class Snapshot:
    """Everything the drawing and the tables need, computed once from the raw records.

    Running and waiting spans are kept as parallel lists (lane index, start, end[, label]) so
    that 100,000 of them can be drawn without building an object per span.
    """

    def __init__(
        self,
        title: str | None,
        started_at: float | None,
        ended_at: float | None,
        block: BlockRecord | None,
        records: list[TracedCoroutine | TaskRecord],
        user_spans: Iterable[UserSpan],
        user_marks: Iterable[UserMark],
        now: float | None = None,
        *,
        blocked_after: float | None = None,
        blocked_samples: Iterable[tuple[LaneKey, float, str]] = (),
    ) -> None:
        """``block`` is the block task's record, ``records`` those of the tasks created inside;
        ``user_spans`` and ``user_marks`` are what ``tl.span()``/``add_spans()``/``mark()``
        recorded. Times are absolute ``perf_counter()`` seconds; ``ended_at`` is None while the
        block runs (then the snapshot ends at ``now``, or at the present moment). ``blocked_after``
        is the step length, in seconds, from which a step counts as blocking the loop (None: not
        looked for); ``blocked_samples`` are the watchdog's (lane key, time, call) samples."""
        self.title = title
        self.lanes: list[Lane] = []
        self.running: tuple[list[int], list[float], list[float]] = ([], [], [])  # lane index, start, end
        # lane index, start, end, label
        self.waiting: tuple[list[int], list[float], list[float], list[str]] = ([], [], [], [])
        self.other: list[Span] = []  # phases, server spans, ...
        self.marks: list[tuple[int, float, str]] = []  # (lane index, time, label)
        self.outcomes: list[tuple[int, float, str]] = []  # (lane index, time, outcome)
        self.created: list[tuple[int, float]] = []  # (lane index, time)
        # (start, end, label): a step that held up the loop (blocked.py)
        self.blocked: list[tuple[float, float, str]] = []
        if started_at is None or block is None:
            self.duration = 0.0
            return
        t0 = started_at
        end = ended_at
        if end is None:
            end = _clock() if now is None else now
        self.duration = end - t0
        self._lane_of: dict[LaneKey, int] = {}  # record index (BLOCK: the block's task) or lane name -> lane
        child_steps: list[tuple[float, float]] = []
        # Lane order is creation order, the block's own task first.
        names = _unique([block.name()] + [r.name() for r in records])
        self._add_task_lane(block, BLOCK, names[0], t0)
        for record, name in zip(records, names[1:]):
            lane = self._add_task_lane(record, record.index, name, t0)
            self._read_steps(record.steps, lane, record.created, record.outcome is not None, t0, end, child_steps)
        child_steps.sort()
        running_now = block.end is None and _current_task() is block.task
        block_log = block.steps([s for s, _ in child_steps], [e for _, e in child_steps], end, running_now)
        self._read_steps(block_log, 0, block.created, True, t0, end, None)
        for lane_key, kind, label, start, stop in user_spans:
            if stop is None:
                stop = end  # a span still open: draw it up to now
            if stop < t0 or start > end:
                continue
            index = self._lane_index(lane_key)
            self.other.append(Span(self.lanes[index].name, kind, label, max(start, t0) - t0, min(stop, end) - t0))
        for lane_key, label, when in user_marks:
            if t0 <= when <= end:
                self.marks.append((self._lane_index(lane_key), when - t0, label))
        self._add_phases_and_blocked(blocked_after, list(blocked_samples), t0)

    # -- building -------------------------------------------------------------------------

    def _add_task_lane(self, record: BlockRecord | TracedCoroutine | TaskRecord, key: int, name: str, t0: float) -> int:
        """A lane for a task; ``key`` is its record's index (BLOCK for the block's task)."""
        index = len(self.lanes)
        block = key == BLOCK
        parent = record.parent
        parent_name = self.lanes[self._lane_of[parent]].name if parent in self._lane_of else None
        outcome = record.outcome
        done: float | None
        if isinstance(record, BlockRecord):
            done = (record.end - t0) if record.end is not None else None
        else:
            last = _last_float(record.steps)
            done = last - t0 if outcome is not None and last is not None else None
            task = record.task
            if outcome == "result" and task is not None and task.done() and task.cancelled():
                outcome = "cancelled"  # a cancel() arrived as its coroutine returned
        info = TaskInfo(
            name=name,
            parent=parent_name,
            created=record.created - t0,
            done=done,
            outcome=outcome,
            exception=record.error,
            coro=record.coro_name or "",
            lane=name,
            block=block,
            library=record.coro_library,
        )
        self.lanes.append(Lane(name, _axis_label(name, record.coro_name, block, record.coro_library), info))
        self._lane_of[key] = index
        self._lane_of.setdefault(name, index)
        if not block:
            self.created.append((index, info.created))
        if info.done is not None and info.outcome is not None:
            self.outcomes.append((index, info.done, info.outcome))
        return index

    def _lane_index(self, lane_key: LaneKey) -> int:
        index = self._lane_of.get(lane_key)
        if index is None:  # a lane of its own: a name given to span()/add_spans()
            name = str(lane_key)
            index = self._lane_of.get(name)
            if index is None:
                index = len(self.lanes)
                self.lanes.append(Lane(name, name))
                self._lane_of[name] = index
        return index

    def _read_steps(
        self,
        log: Iterable[Any],
        lane: int,
        created: float,
        finished: bool,
        t0: float,
        end: float,
        collect: list[tuple[float, float]] | None,
    ) -> None:
        """Flat step log -> running spans, and waiting spans for the gaps between steps."""
        r_lane, r_start, r_end = self.running
        w_lane, w_start, w_end, w_label = self.waiting
        log = list(log)  # the task may add steps while we read
        n = len(log)
        i = 0
        waited_since, waiting_on = created, "scheduled"
        while i + 1 < n:
            start, stop = log[i], log[i + 1]
            i += 2
            label = "sleep(0)"
            if i < n and type(log[i]) is str:
                label = log[i]
                i += 1
            if start > end:
                break
            if start > waited_since:
                w_lane.append(lane)
                w_start.append(waited_since - t0)
                w_end.append(start - t0)
                w_label.append(waiting_on)
            stop = min(stop, end)
            r_lane.append(lane)
            r_start.append(start - t0)
            r_end.append(stop - t0)
            if collect is not None:
                collect.append((start, stop))
            waited_since, waiting_on = stop, label
        else:
            if i < n:  # a step has started and not ended: it is running now
                r_lane.append(lane)
                r_start.append(log[i] - t0)
                r_end.append(end - t0)
            elif not finished and end > waited_since:
                w_lane.append(lane)
                w_start.append(waited_since - t0)
                w_end.append(end - t0)
                w_label.append(waiting_on)

    def _add_phases_and_blocked(
        self, blocked_after: float | None, samples: list[tuple[LaneKey, float, str]], t0: float
    ) -> None:
        """Phase bands from the wait labels, and the steps that blocked the loop."""
        from . import blocked

        self.other.extend(phase_bands(self.lane_names, self.waiting))
        if blocked_after is None:
            return
        for lane, start, stop in blocked.blocked_spans(self.running, blocked_after):
            seen = [
                description
                for key, when, description in samples
                if self._lane_of.get(key) == lane and start - 1e-9 <= when - t0 <= stop + 1e-9
            ]
            # The call the step spent most samples in (the first of equals): a look delayed past
            # the blocking call's return names the next line, and is outvoted.
            call = max(seen, key=seen.count) if seen else None
            name = self.lanes[lane].axis_label if lane == 0 else self.lanes[lane].name
            self.blocked.append((start, stop, blocked.label((stop - start) * 1000, name, call)))

    # -- reading --------------------------------------------------------------------------

    @property
    def lane_names(self) -> list[str]:
        return [lane.name for lane in self.lanes]

    @property
    def tasks(self) -> list[TaskInfo]:
        return [lane.task for lane in self.lanes if lane.task is not None]

    def spans(self) -> list[Span]:
        """Every span as a Span object, in order of start time."""
        names = self.lane_names
        out = [Span(names[lane], "running", "", start, end) for lane, start, end in zip(*self.running)]
        out += [Span(names[lane], "waiting", label, start, end) for lane, start, end, label in zip(*self.waiting)]
        out += self.other
        out.sort(key=lambda span: span.start)
        return out


def _unique(names: list[str]) -> list[str]:
    """Lane names must be unique: a second task named "worker" becomes "worker (2)"."""
    seen: dict[str, int] = {}
    out = []
    for name in names:
        count = seen.get(name, 0) + 1
        seen[name] = count
        out.append(name if count == 1 else f"{name} ({count})")
    return out


def _axis_label(name: str, coro_name: str | None, block: bool, library: str | None = None) -> str:
    if library and coro_name and _DEFAULT_TASK_NAME.match(name):
        # A library's own task (aiohttp closing a connection): say whose, in words.
        words = coro_name.rsplit(".", 1)[-1].strip("_").replace("_", " ")
        return f"{library}: {words}"
    if block:
        return f"{coro_name} (block)" if coro_name and _DEFAULT_TASK_NAME.match(name) else f"{name} (block)"
    if coro_name and _DEFAULT_TASK_NAME.match(name):
        return f"{name} · {coro_name}"
    return name


def _last_float(log: list[float | str]) -> float | None:
    for item in reversed(log):
        if type(item) is float:
            return item
    return None


def _current_task() -> asyncio.Task[Any] | None:
    try:
        return asyncio.current_task()
    except RuntimeError:  # no running loop (e.g. plotting from a plain script)
        return None


def phase_bands(lane_names: list[str], waiting: tuple[list, list, list, list]) -> list[Span]:
    """One band per run of consecutive waits of the same phase in a lane (from the first
    wait's start to the last one's end, the steps between included)."""
    per_lane: dict[int, list[tuple[float, float, str | None]]] = {}
    for lane, start, end, label in zip(*waiting):
        per_lane.setdefault(lane, []).append((start, end, phases.split(label)[0]))
    bands = []
    for lane, waits in per_lane.items():
        waits.sort()
        current: list | None = None  # [phase, start, end]
        for start, end, phase in waits:
            if current is not None and phase == current[0]:
                current[2] = end
                continue
            if current is not None:
                bands.append(Span(lane_names[lane], phases.kind_of(current[0]), current[0], current[1], current[2]))
            current = [phase, start, end] if phase is not None else None
        if current is not None:
            bands.append(Span(lane_names[lane], phases.kind_of(current[0]), current[0], current[1], current[2]))
    return bands
