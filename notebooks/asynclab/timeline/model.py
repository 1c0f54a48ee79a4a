"""Turning what was recorded into lanes and spans (times in seconds from the timeline's start).

Raw records are cheap to write and are only made readable here, when something reads them:
task names are looked up now (a TaskGroup names its tasks after creating them), the step logs
become "running" spans and the gaps between steps become "waiting" spans labelled with what the
task awaited.
"""

from __future__ import annotations

import asyncio
import heapq
import re
from collections.abc import Callable, Iterable
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
    """One row of the diagram. ``parent`` is the lane index of the task that created this
    lane's task (None for the block's own task and for lanes without a task), ``depth`` its
    depth in the task tree (the block's own task 0, the tasks it created 1, ...)."""

    name: str
    axis_label: str
    task: TaskInfo | None = None
    parent: int | None = None
    depth: int = 0


@dataclass
class ResourceTrack:
    """How a Lock, Semaphore, Queue, Event or Condition was used (see ``resources.py``).

    ``label`` names it after the learner's variable (``sem: Semaphore(2)``); ``kind`` is
    "lock", "semaphore", "queue", "event" or "condition". ``times``/``levels`` are a step
    function: from ``times[i]`` (seconds from the start) the level was ``levels[i]``: holders
    of a lock or condition (0 or 1), permits in use, items in a queue, 1 while an event is set.
    ``capacity`` is the most it can be (None: unknown or unbounded), ``peak`` the most it was.
    ``holders`` are (lane index, start, end) of each lane holding a lock or a permit.
    """

    label: str
    kind: str
    capacity: int | None
    times: list[float]
    levels: list[int]
    peak: int
    holders: list[tuple[int, float, float]]

    @property
    def unit(self) -> str:
        return {
            "lock": "holder",
            "condition": "holder",
            "semaphore": "permits in use",
            "queue": "items",
            "event": "set",
        }[self.kind]


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
        tracks: Iterable[Any] = (),
        task_key: Callable[[Any], LaneKey | None] | None = None,
    ) -> None:
        """``block`` is the block task's record, ``records`` those of the tasks created inside;
        ``user_spans`` and ``user_marks`` are what ``tl.span()``/``add_spans()``/``mark()``
        recorded. Times are absolute ``perf_counter()`` seconds; ``ended_at`` is None while the
        block runs (then the snapshot ends at ``now``, or at the present moment). ``blocked_after``
        is the step length, in seconds, from which a step counts as blocking the loop (None: not
        looked for); ``blocked_samples`` are the watchdog's (lane key, time, call) samples.
        ``tracks`` are ``resources.Track`` records; ``task_key`` turns a task noted in one into
        its lane key (tracks of a running block hold tasks, those of an ended one lane keys)."""
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
        self.tracks: list[ResourceTrack] = []
        # (lane index, start, end, awaited lane indices): a parent waiting on its children
        # (gather, TaskGroup.__aexit__, await task)
        self.awaited: list[tuple[int, float, float, list[int]]] = []
        self.awaited_in_wait: dict[int, list[int]] = {}  # index into self.waiting -> awaited lanes
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
        self._add_tree()
        for track in tracks:
            self.tracks.append(self._track(track, t0, end, task_key))
        # Two objects behind one variable name (a `lock` in each of two functions) get two labels.
        for track, label in zip(self.tracks, _unique([track.label for track in self.tracks])):
            track.label = label

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
        parent_index = self._lane_of.get(parent) if parent is not None else None
        depth = 0 if parent_index is None else self.lanes[parent_index].depth + 1
        label = _axis_label(name, record.coro_name, block, record.coro_library)
        self.lanes.append(Lane(name, label, info, parent_index, depth))
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

    def _add_tree(self) -> None:
        """Which lanes a parent waited on: the task named by ``await task``; for ``gather``
        and ``TaskGroup.__aexit__``, its children alive during the wait. Read from the tree
        alone, so it needs nothing of a Python version (3.14's call graph agrees: see tests)."""
        children: dict[int, list[int]] = {}
        for index, each in enumerate(self.lanes):
            if each.parent is not None:
                children.setdefault(each.parent, []).append(index)
        by_name = {each.name: i for i, each in enumerate(self.lanes) if each.task is not None}
        w_lane, w_start, w_end, w_label = self.waiting
        for i, label in enumerate(w_label):
            what = phases.split(label)[1]
            lane, start, stop = w_lane[i], w_start[i], w_end[i]
            if what.startswith("await "):
                target = by_name.get(what[6:])
                awaited = [target] if target is not None and target != lane else []
            elif what in ("gather", "TaskGroup.__aexit__"):
                awaited = [
                    child
                    for child in children.get(lane, [])
                    if _alive_during(self.lanes[child].task, start, stop, self.duration)
                ]
            else:
                continue
            if awaited:
                self.awaited.append((lane, start, stop, awaited))
                self.awaited_in_wait[i] = awaited

    def _track(
        self, track: Any, t0: float, end: float, task_key: Callable[[Any], LaneKey | None] | None
    ) -> ResourceTrack:
        """A ``resources.Track``'s readings as a step function of levels, and its holders."""
        kind = track.kind
        capacity = track.capacity

        def level(reading: Any) -> int:
            if reading is None:
                return 0
            if kind == "semaphore":
                return max(0, capacity - reading) if capacity is not None else 0
            return int(reading)

        times = [max(track.since, t0) - t0]
        levels = [level(track.initial)]
        holders: list[tuple[int, float, float]] = []
        open_holds: list[tuple[int | None, float]] = []  # (lane, since) of each holder so far
        for _ in range(levels[0]):
            open_holds.append((None, times[0]))
        # A semaphore hands a released permit straight to the next waiter, in the releasing
        # task's step (Python 3.11.? and later): that permit is the waiter's.
        acquiring = sorted(self._acquire_waits(track.type_name), key=lambda w: w[1]) if kind == "semaphore" else []
        next_wait = 0
        waiters: list[tuple[float, int, int]] = []  # heap of (end, n, lane) of the waits begun so far
        released_by: int | None = None
        lanes: dict[int, Any] = {}  # id(task or lane key) -> lane index or None
        count = len(track.times)  # the lists may grow while we read
        for when, reading, who in zip(track.times[:count], track.readings[:count], track.tasks[:count]):
            if when > end:
                break
            t = max(when, t0) - t0
            new = level(reading)
            lane = lanes.get(id(who), _UNKNOWN)
            if lane is _UNKNOWN:  # once per task: a task (while the block runs) or a lane key
                key = who if who is None or type(who) is int or isinstance(who, str) else None
                if key is None and who is not None and task_key is not None:
                    key = task_key(who)
                lane = lanes[id(who)] = self._lane_of.get(key) if key is not None else None
            if kind in ("lock", "condition", "semaphore"):
                previous = levels[-1]
                if new > previous and lane is not None and lane == released_by:
                    while next_wait < len(acquiring) and acquiring[next_wait][1] <= t:
                        waiter, _, stop = acquiring[next_wait]
                        heapq.heappush(waiters, (stop, next_wait, waiter))
                        next_wait += 1
                    while waiters and waiters[0][0] < t:  # waits that ended before this permit
                        heapq.heappop(waiters)
                    if waiters and waiters[0][2] != lane:  # the first waiter to wake gets it
                        lane = heapq.heappop(waiters)[2]
                released_by = lane if new < previous else None
                for _ in range(max(0, new - previous)):
                    open_holds.append((lane, t))
                for _ in range(max(0, previous - new)):
                    if not open_holds:
                        break
                    mine = next((j for j, (held_by, _) in enumerate(open_holds) if held_by == lane), 0)
                    held_by, since = open_holds.pop(mine)
                    if held_by is not None:
                        holders.append((held_by, since, t))
            times.append(t)
            levels.append(new)
        for held_by, since in open_holds:
            if held_by is not None:
                holders.append((held_by, since, end - t0))
        holders.sort(key=lambda h: h[1])
        return ResourceTrack(track.label, kind, capacity, times, levels, max(levels), holders)

    def _acquire_waits(self, type_name: str) -> list[tuple[int, float, float]]:
        """(lane, start, end) of each wait in ``<type_name>.acquire``."""
        wanted = type_name + ".acquire"
        return [
            (lane, start, stop)
            for lane, start, stop, label in zip(*self.waiting)
            if label == wanted or label.endswith(phases.SEPARATOR + wanted)
        ]

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


_UNKNOWN = object()


def _alive_during(task: TaskInfo | None, start: float, stop: float, duration: float) -> bool:
    if task is None:
        return False
    done = task.done if task.done is not None else duration
    return task.created <= stop and done >= start


def tree_order(lanes: list[Lane]) -> list[int]:
    """Lane indices with each task's children right under it (in creation order), depth
    first; lanes without a parent keep their order."""
    children: dict[int, list[int]] = {}
    roots = []
    for index, lane in enumerate(lanes):
        if lane.parent is None:
            roots.append(index)
        else:
            children.setdefault(lane.parent, []).append(index)
    order: list[int] = []
    stack = list(reversed(roots))
    while stack:
        index = stack.pop()
        order.append(index)
        stack.extend(reversed(children.get(index, [])))
    return order


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
