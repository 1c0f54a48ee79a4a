"""The lane of the block's own task (the task running ``async with Timeline() as tl:``).

That task existed before the block (in a notebook it is the cell's task), so the task factory
never saw its coroutine and cannot time its steps. Its lane is reconstructed from clues:

- *When a step ends*: the task is waiting on a future (``task._fut_waiter``, read only). A
  done-callback added to that future runs right after the task's own wake-up callback, i.e.
  right after the task's next step: that gives the end of every step, and what it waits on next.
- *When a step starts*: no earlier than the end of the last step of a recorded child (one
  thread runs one step at a time): exact when a child wakes the task (``gather``, ``await
  task``, a TaskGroup). For other waits (``sleep``, sockets, ...), a light heartbeat notes
  every millisecond that the task is still waiting, so the next step started after that.
- When the loop runs nested inside one of the task's steps (``asyncio.run()`` in a recorded
  block after ``nest_asyncio2.apply()``), that step is still running while callbacks run:
  we check that (``cr_running``) and look again every millisecond until it ends.

So the block's lane is exact to about a millisecond; the lanes of tasks created inside the
block are exact to the microsecond.
"""

from __future__ import annotations

import asyncio
from bisect import bisect_left, bisect_right
from time import perf_counter as _clock
from typing import TYPE_CHECKING, Any

from .waits import describe_wait

if TYPE_CHECKING:
    from .recorder import Timeline

HEARTBEAT_SECONDS = 0.001
# Waits ended by a recorded child's step, which bounds the wake-up: no heartbeat needed.
_CHILD_WAKES = ("gather", "TaskGroup.__aexit__")


class BlockRecord:
    """What a timeline knows about its block's own task (same reading interface as TaskRecord)."""

    parent: int | None = None
    index = -1  # capture.BLOCK
    coro_library: str | None = None  # the block runs a notebook cell's (or the caller's) code

    def __init__(self, owner: Timeline, task: asyncio.Task[Any], loop: asyncio.AbstractEventLoop, start: float) -> None:
        self.owner = owner
        self.task = task
        self.loop = loop
        self.created = start
        self.coro_name = _block_coroutine_name(task)
        # One per step: (end, end exact?, last seen waiting, seen running, label of the wait
        # that follows). The step started after "seen waiting" and before "seen running".
        self.events: list[tuple[float, bool, float, float | None, str | None]] = []
        self.outcome: str | None = None  # how the block ended: "result" / "exception" / "cancelled"
        self.error: str | None = None
        self.end: float | None = None
        self._seen_waiting = 0.0
        self._seen_running: float | None = None
        self._waiter: asyncio.Future[Any] | None = None
        self._stopped = False
        self._heartbeat: asyncio.TimerHandle | None = None
        if not hasattr(task, "_fut_waiter"):
            # A task class that hides what it waits on: the lane can only show the whole
            # block as one step.
            self._stopped = True
            return
        # The step running __aenter__ ends when the task next yields; this callback runs
        # soon after (not exactly after: other ready callbacks may come first).
        loop.call_soon(self._after_step, False)

    def name(self) -> str:
        return self.task.get_name()

    def _beat(self) -> None:
        self._heartbeat = None
        if not self._stopped and self._waiter is not None:
            # A callback is running, so the task is not: unless the loop runs nested inside
            # the task's step (nest_asyncio2's asyncio.run), in which case it has no waiter.
            if getattr(self.task, "_fut_waiter", None) is not None:
                self._seen_waiting = _clock()
            self._heartbeat = self.loop.call_later(HEARTBEAT_SECONDS, self._beat)

    def _on_wake(self, future: asyncio.Future[Any]) -> None:
        self._waiter = None
        self._after_step(True)

    def _after_step(self, exact: bool) -> None:
        if self._stopped:
            return
        now = _clock()
        task = self.task
        if task.done():
            self._add_event(now, exact, None)
            return
        if _is_running(task.get_coro()):
            # The loop is running nested inside the task's step (asyncio.run() under
            # nest_asyncio2): that step has not ended yet. Look again a little later.
            if self._seen_running is None:
                self._seen_running = now
            self.loop.call_later(HEARTBEAT_SECONDS, self._after_step, False)
            return
        waiter = getattr(task, "_fut_waiter", None)
        label = "sleep(0)" if waiter is None else describe_wait(task.get_coro(), waiter)
        self._add_event(now, exact, label)
        if waiter is None:  # a bare yield: the task's next step is already queued, just before us
            self.loop.call_soon(self._after_step, True)
            return
        self._waiter = waiter
        waiter.add_done_callback(self._on_wake)
        woken_by_child = label in _CHILD_WAKES or label.startswith("await ")
        if not woken_by_child and self._heartbeat is None:
            self._heartbeat = self.loop.call_later(HEARTBEAT_SECONDS, self._beat)

    def _add_event(self, now: float, exact: bool, label: str | None) -> None:
        self.events.append((now, exact, self._seen_waiting, self._seen_running, label))
        self._seen_waiting = 0.0
        self._seen_running = None

    def stop(self, now: float, outcome: str, error: str | None = None) -> None:
        """The block ended (we are inside the task's last step)."""
        self._stopped = True
        self.end = now
        self.outcome = outcome
        self.error = error
        if self._heartbeat is not None:
            self._heartbeat.cancel()
        if self._waiter is not None:
            self._waiter.remove_done_callback(self._on_wake)
            self._waiter = None

    def steps(
        self, child_starts: list[float], child_ends: list[float], now: float, running_now: bool
    ) -> list[float | str]:
        """The task's steps as a flat log like TaskRecord.steps, given the sorted starts and
        ends of the steps of every recorded child task."""

        def last_child_end_before(t: float) -> float:
            i = bisect_right(child_ends, t)
            return child_ends[i - 1] if i else float("-inf")

        def first_child_start_after(t: float) -> float:
            i = bisect_left(child_starts, t)
            return child_starts[i] if i < len(child_starts) else float("inf")

        log: list[float | str] = []
        previous_end = None
        for t, exact, seen, running, label in self.events:
            if previous_end is None:
                start = self.created
            elif running is not None:  # the loop ran nested in this step: children did too
                start = max(previous_end, min(running, t))
            else:
                start = min(t, max(previous_end, seen, last_child_end_before(t)))
            if exact or running is not None:
                end = t
            else:  # seen a little late: the step ended before the first child step after it
                end = max(start, min(t, first_child_start_after(start)))
            log += (start, end) if label is None else (start, end, label)
            previous_end = end
        end = self.end if self.end is not None else now
        if self.end is not None or running_now or previous_end is None:
            if previous_end is None:
                start = self.created
            elif self._seen_running is not None:
                start = max(previous_end, self._seen_running)
            else:
                start = max(previous_end, self._seen_waiting, last_child_end_before(end))
            log += (min(start, end), end)
        return log


def _is_running(coro: object) -> bool:
    running = getattr(coro, "cr_running", None)
    return getattr(coro, "gi_running", False) if running is None else running


def _block_coroutine_name(task: asyncio.Task[Any]) -> str:
    name = getattr(task.get_coro(), "__qualname__", "") or ""
    if name.startswith("InteractiveShell."):  # IPython runs each cell in run_cell_async()
        return "cell"
    return name
