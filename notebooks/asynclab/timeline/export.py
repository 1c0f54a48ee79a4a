"""Export to the Chrome trace format, which https://ui.perfetto.dev and chrome://tracing open.

Each lane becomes a thread: its running and waiting spans follow one another on it. Phases and
other spans of a task lane may overlap its steps in ways a single thread cannot nest, so they
get threads of their own just below ("<lane> · setup, cleanup"). Phases read from the await
chain are spans of kind "setup", "cleanup" or "iteration" there, and a wait's slice carries its
phase and what it awaited as args. Steps that blocked the loop are slices on a thread of their
own, "loop blocked", at the top.

The task tree: a flow arrow ("created") runs from an instant on the parent's thread to one on
the child's, at the moment the child was created; the child's names its parent in its args. A
parent's wait on its children (gather, TaskGroup.__aexit__, await task) names them in its
slice's args (``awaits``). Each resource track is a counter (``sem: Semaphore(2)``: permits in
use over time).

Perfetto reads a JSON trace by rules that shape this file: it turns each time into whole
nanoseconds (``llround(µs × 1000)``); a slice that starts inside another on its thread and ends
after it is moved off that thread (older versions dropped it); a flow's ends bind to the newest
slice on each thread at their moment; and thread 0 is taken for the process's own.
"""

from __future__ import annotations

import json
import os
from typing import Any

from .model import Snapshot, Span
from .phases import PHASE_KINDS, split


def _us(seconds: float) -> float:
    return round(seconds * 1e6, 3)


def _ns(us: float) -> int:
    return round(us * 1000)  # how Perfetto reads a time given in µs


def _pack(spans: list[tuple[float, float]]) -> list[int]:
    """A row for each (start, end), so that spans in a row nest or follow one another.

    A thread of the trace can show nested slices but not two that overlap partly.
    """
    times = [(_ns(_us(start)), _ns(_us(end))) for start, end in spans]
    order = sorted(range(len(spans)), key=lambda n: (times[n][0], -times[n][1]))
    rows: list[list[int]] = []  # per row, the ends of the slices still open, innermost last
    placed = [0] * len(spans)
    for n in order:
        start, end = times[n]
        for r, open_ends in enumerate(rows):
            while open_ends and open_ends[-1] <= start:
                open_ends.pop()
            if not open_ends or end <= open_ends[-1]:
                open_ends.append(end)
                placed[n] = r
                break
        else:
            rows.append([end])
            placed[n] = len(rows) - 1
    return placed


def chrome_trace(snapshot: Snapshot) -> dict[str, Any]:
    """The trace as a dict: {"traceEvents": [...], "displayTimeUnit": "ms"}."""
    pid = 1
    events: list[dict[str, Any]] = [
        {"ph": "M", "pid": pid, "name": "process_name", "args": {"name": snapshot.title or "asynclab timeline"}}
    ]
    names = snapshot.lane_names
    tids = iter(range(pid + 1, 1 << 30))  # thread ids other than the process's own; also the order

    def thread(name: str) -> int:
        tid = next(tids)
        events.append({"ph": "M", "pid": pid, "tid": tid, "name": "thread_name", "args": {"name": name}})
        events.append({"ph": "M", "pid": pid, "tid": tid, "name": "thread_sort_index", "args": {"sort_index": tid}})
        return tid

    def slice_(tid: int, name: str, cat: str, start: float, end: float, **args: Any) -> None:
        ts = _us(start)
        # The end is rounded, not the length: a slice then ends exactly where the next begins.
        event: dict[str, Any] = {
            "ph": "X",
            "pid": pid,
            "tid": tid,
            "name": name,
            "cat": cat,
            "ts": ts,
            "dur": max(0.0, round(_us(end) - ts, 3)),
        }
        if args:
            event["args"] = args
        events.append(event)

    def instant(tid: int, name: str, cat: str, when: float, **args: Any) -> None:
        event: dict[str, Any] = {"ph": "i", "s": "t", "pid": pid, "tid": tid, "name": name, "cat": cat, "ts": _us(when)}
        if args:
            event["args"] = args
        events.append(event)

    if snapshot.blocked:
        rows = _pack([(start, end) for start, end, _ in snapshot.blocked])
        blocked_tids = [thread("loop blocked" if r == 0 else f"loop blocked ({r + 1})") for r in range(max(rows) + 1)]
        for (start, end, label), r in zip(snapshot.blocked, rows):
            slice_(blocked_tids[r], label, "blocked", start, end, blocked_ms=round((end - start) * 1000, 3))

    # Each lane's own thread, then threads for its other spans (phases, server spans, ...).
    index = {name: i for i, name in enumerate(names)}
    others: list[list[Span]] = [[] for _ in names]
    for span in snapshot.other:
        others[index[span.lane]].append(span)
    lane_tid: list[int] = []
    for lane, spans in zip(snapshot.lanes, others):
        tid = thread(lane.axis_label)
        lane_tid.append(tid)
        rows = _pack([(span.start, span.end) for span in spans])
        if lane.task is None:  # no steps: the lane's own thread takes the first row
            row_tids = [tid] + [thread(f"{lane.axis_label} ({r + 1})") for r in range(1, max(rows, default=0) + 1)]
        else:
            row_tids = []
            for r in range(max(rows, default=-1) + 1):
                kinds = ", ".join(dict.fromkeys(span.kind for span, row in zip(spans, rows) if row == r))
                row_tids.append(thread(f"{lane.name} · {kinds}" + (f" ({r + 1})" if r else "")))
        for span, r in zip(spans, rows):
            if span.kind in PHASE_KINDS and lane.task is not None:
                slice_(row_tids[r], span.label, span.kind, span.start, span.end, phase=span.label)
            else:
                slice_(row_tids[r], span.label or span.kind, span.kind, span.start, span.end)

    for row, start, end in zip(*snapshot.running):
        slice_(lane_tid[row], "running", "running", start, end)
    for n, (row, start, end, label) in enumerate(zip(*snapshot.waiting)):
        phase, what = split(label)
        extra: dict[str, Any] = {}
        if phase is not None:
            extra["phase"] = phase
        if n in snapshot.awaited_in_wait:
            extra["awaits"] = [names[lane] for lane in snapshot.awaited_in_wait[n]]
        slice_(lane_tid[row], f"waiting: {label}", "waiting", start, end, awaited=what, **extra)
    for row, when, label in snapshot.marks:
        instant(lane_tid[row], label, "mark", when)
    for row, when, outcome in snapshot.outcomes:
        instant(lane_tid[row], f"done ({outcome})", "task", when)
    for flow, (row, when) in enumerate(snapshot.created, start=1):
        parent = snapshot.lanes[row].parent
        if parent is None:
            continue
        # Each end of the arrow binds to the newest slice on its thread at that moment: an
        # instant right before it makes that the moment of creation (not an earlier mark).
        common = {"pid": pid, "name": "created", "cat": "tree", "id": flow, "ts": _us(when)}
        instant(lane_tid[parent], f"created {names[row]}", "tree", when, child=names[row])
        events.append({"ph": "s", "tid": lane_tid[parent], **common})
        instant(lane_tid[row], "created", "tree", when, parent=names[parent], parent_tid=lane_tid[parent])
        events.append({"ph": "f", "bp": "e", "tid": lane_tid[row], **common})
    for track in snapshot.tracks:
        for when, level in zip(track.times, track.levels):
            events.append(
                {
                    "ph": "C",
                    "pid": pid,
                    "name": track.label,
                    "cat": "resource",
                    "ts": _us(when),
                    "args": {track.unit: level},
                }
            )
    # displayTimeUnit is for chrome://tracing; Perfetto ignores it (and notes so in its info).
    return {"traceEvents": events, "displayTimeUnit": "ms"}


def write_chrome_trace(snapshot: Snapshot, path: str | os.PathLike[str]) -> str | os.PathLike[str]:
    with open(path, "w", encoding="utf-8") as f:
        json.dump(chrome_trace(snapshot), f)
    return path
