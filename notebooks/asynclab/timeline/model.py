"""Turning what was recorded into lanes and spans (times in seconds from the timeline's start).

Raw records are cheap to write and are only made readable here, when something reads them:
task names are looked up now (a TaskGroup names its tasks after creating them), the step logs
become "running" spans and the gaps between steps become "waiting" spans labelled with what the
task awaited.
"""

import asyncio
import re
from dataclasses import dataclass
from time import perf_counter as _clock

from .capture import BLOCK

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
    def duration(self):
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

    def __init__(self, timeline, now=None):
        self.title = timeline.title
        self.lanes = []
        self.running = ([], [], [])  # lane index, start, end
        self.waiting = ([], [], [], [])  # lane index, start, end, label
        self.other = []  # Span objects: phases, server spans, ...
        self.marks = []  # (lane index, time, label)
        self.outcomes = []  # (lane index, time, outcome)
        self.created = []  # (lane index, time)
        self.blocked = []  # (start, end, label): a step that held up the loop (blocked.py)
        if timeline._started_at is None:
            self.duration = 0.0
            return
        t0 = timeline._started_at
        end = timeline._ended_at
        if end is None:
            end = _clock() if now is None else now
        self.duration = end - t0
        self._lane_of = {}  # record index (BLOCK: the block's task) or lane name -> lane
        child_steps = []
        block = timeline._block
        records = timeline._records
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
        for lane_key, kind, label, start, stop in timeline._user_spans:
            if stop is None:
                stop = end  # a span still open: draw it up to now
            if stop < t0 or start > end:
                continue
            index = self._lane_index(lane_key)
            self.other.append(Span(self.lanes[index].name, kind, label, max(start, t0) - t0, min(stop, end) - t0))
        for lane_key, label, when in timeline._user_marks:
            if t0 <= when <= end:
                self.marks.append((self._lane_index(lane_key), when - t0, label))
        self._add_phases_and_blocked(timeline, t0)

    # -- building -------------------------------------------------------------------------

    def _add_task_lane(self, record, key, name, t0):
        """A lane for a task; ``key`` is its record's index (BLOCK for the block's task)."""
        index = len(self.lanes)
        block = key == BLOCK
        parent = record.parent
        parent_name = self.lanes[self._lane_of[parent]].name if parent in self._lane_of else None
        outcome = record.outcome
        if block:
            done = (record.end - t0) if record.end is not None else None
        else:
            done = _last_float(record.steps) - t0 if outcome is not None else None
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

    def _lane_index(self, lane_key):
        index = self._lane_of.get(lane_key)
        if index is None:  # a lane of its own: a name given to span()/add_spans()
            name = str(lane_key)
            index = self._lane_of.get(name)
            if index is None:
                index = len(self.lanes)
                self.lanes.append(Lane(name, name))
                self._lane_of[name] = index
        return index

    def _read_steps(self, log, lane, created, finished, t0, end, collect):
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

    def _add_phases_and_blocked(self, timeline, t0):
        """Phase bands from the wait labels, and the steps that blocked the loop."""
        from . import blocked, phases

        self.other.extend(phases.phase_bands(self.lane_names, self.waiting))
        threshold = getattr(timeline, "blocked_ms", None)
        if threshold is None:
            return
        watchdog = getattr(timeline, "_watchdog", None)
        samples = list(watchdog.samples) if watchdog is not None else []
        for lane, start, stop in blocked.blocked_spans(self.running, threshold / 1000):
            call = None
            for key, when, description in samples:
                if self._lane_of.get(key) == lane and start - 1e-9 <= when - t0 <= stop + 1e-9:
                    call = description
                    break
            name = self.lanes[lane].axis_label if lane == 0 else self.lanes[lane].name
            self.blocked.append((start, stop, blocked.label((stop - start) * 1000, name, call)))

    # -- reading --------------------------------------------------------------------------

    @property
    def lane_names(self):
        return [lane.name for lane in self.lanes]

    @property
    def tasks(self):
        return [lane.task for lane in self.lanes if lane.task is not None]

    def spans(self):
        """Every span as a Span object, in order of start time."""
        names = self.lane_names
        out = [Span(names[lane], "running", "", start, end) for lane, start, end in zip(*self.running)]
        out += [Span(names[lane], "waiting", label, start, end) for lane, start, end, label in zip(*self.waiting)]
        out += self.other
        out.sort(key=lambda span: span.start)
        return out


def _unique(names):
    """Lane names must be unique: a second task named "worker" becomes "worker (2)"."""
    seen = {}
    out = []
    for name in names:
        count = seen.get(name, 0) + 1
        seen[name] = count
        out.append(name if count == 1 else f"{name} ({count})")
    return out


def _axis_label(name, coro_name, block, library=None):
    if library and coro_name and _DEFAULT_TASK_NAME.match(name):
        # A library's own task (aiohttp closing a connection): say whose, in words.
        words = coro_name.rsplit(".", 1)[-1].strip("_").replace("_", " ")
        return f"{library}: {words}"
    if block:
        return f"{coro_name} (block)" if coro_name and _DEFAULT_TASK_NAME.match(name) else f"{name} (block)"
    if coro_name and _DEFAULT_TASK_NAME.match(name):
        return f"{name} · {coro_name}"
    return name


def _last_float(log):
    for item in reversed(log):
        if type(item) is float:
            return item
    return None


def _current_task():
    try:
        return asyncio.current_task()
    except RuntimeError:  # no running loop (e.g. plotting from a plain script)
        return None
