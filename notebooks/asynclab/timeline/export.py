"""Export to the Chrome trace format, which https://ui.perfetto.dev and chrome://tracing open.

Each lane becomes a thread: its running and waiting spans follow one another on it. Phases and
other spans of a task lane may overlap its steps in ways a single thread cannot nest, so they
get a second thread just below ("<lane> · phase"). Phases read from the await chain are
spans of kind "setup", "cleanup" or "iteration" there, and a wait's slice carries its phase
and what it awaited as args. Steps that blocked the loop are slices on a thread of their own,
"loop blocked", at the top.

The task tree: a flow arrow ("created") runs from the parent's thread to each child's at the
moment it was created, and the child's "created" instant names its parent in its args; a
parent's wait on its children (gather, TaskGroup.__aexit__, await task) names them in its
slice's args (``awaits``). Each resource track is a counter (``sem: Semaphore(2)``: permits in
use over time).
"""

from __future__ import annotations

import json
import os
from typing import Any

from .model import Snapshot
from .phases import PHASE_KINDS, split


def _us(seconds: float) -> float:
    return round(seconds * 1e6, 3)


def chrome_trace(snapshot: Snapshot) -> dict[str, Any]:
    """The trace as a dict: {"traceEvents": [...], "displayTimeUnit": "ms"}."""
    pid = 1
    events: list[dict[str, Any]] = [
        {"ph": "M", "pid": pid, "name": "process_name", "args": {"name": snapshot.title or "asynclab timeline"}}
    ]
    names = snapshot.lane_names

    def thread(tid: int, name: str) -> None:
        events.append({"ph": "M", "pid": pid, "tid": tid, "name": "thread_name", "args": {"name": name}})
        events.append({"ph": "M", "pid": pid, "tid": tid, "name": "thread_sort_index", "args": {"sort_index": tid}})

    def slice_(tid: int, name: str, cat: str, start: float, end: float, **args: Any) -> None:
        event: dict[str, Any] = {
            "ph": "X",
            "pid": pid,
            "tid": tid,
            "name": name,
            "cat": cat,
            "ts": _us(start),
            "dur": _us(max(0.0, end - start)),
        }
        if args:
            event["args"] = args
        events.append(event)

    if snapshot.blocked:
        thread(0, "loop blocked")
        for start, end, label in snapshot.blocked:
            slice_(0, label, "blocked", start, end, blocked_ms=round((end - start) * 1000, 3))
    for i, lane in enumerate(snapshot.lanes):
        thread(2 * i + 1, lane.axis_label)
    for row, start, end in zip(*snapshot.running):
        slice_(2 * row + 1, "running", "running", start, end)
    for n, (row, start, end, label) in enumerate(zip(*snapshot.waiting)):
        phase, what = split(label)
        extra: dict[str, Any] = {}
        if phase is not None:
            extra["phase"] = phase
        if n in snapshot.awaited_in_wait:
            extra["awaits"] = [names[lane] for lane in snapshot.awaited_in_wait[n]]
        slice_(2 * row + 1, f"waiting: {label}", "waiting", start, end, awaited=what, **extra)
    index = {name: i for i, name in enumerate(names)}
    extra_threads: set[int] = set()
    for span in snapshot.other:
        i = index[span.lane]
        if snapshot.lanes[i].task is None:
            tid = 2 * i + 1
        else:
            tid = 2 * i + 2
            if tid not in extra_threads:
                extra_threads.add(tid)
                thread(tid, f"{span.lane} · {span.kind}")
        if span.kind in PHASE_KINDS and snapshot.lanes[i].task is not None:
            slice_(tid, span.label, span.kind, span.start, span.end, phase=span.label)
        else:
            slice_(tid, span.label or span.kind, span.kind, span.start, span.end)
    for row, when, label in snapshot.marks:
        events.append(
            {"ph": "i", "s": "t", "pid": pid, "tid": 2 * row + 1, "name": label, "cat": "mark", "ts": _us(when)}
        )
    for row, when, outcome in snapshot.outcomes:
        events.append(
            {
                "ph": "i",
                "s": "t",
                "pid": pid,
                "tid": 2 * row + 1,
                "name": f"done ({outcome})",
                "cat": "task",
                "ts": _us(when),
            }
        )
    for flow, (row, when) in enumerate(snapshot.created, start=1):
        parent = snapshot.lanes[row].parent
        if parent is None:
            continue
        common = {"pid": pid, "name": "created", "cat": "tree", "id": flow, "ts": _us(when)}
        events.append({"ph": "s", "tid": 2 * parent + 1, **common})
        events.append({"ph": "f", "bp": "e", "tid": 2 * row + 1, **common})
        events.append(
            {
                "ph": "i",
                "s": "t",
                "pid": pid,
                "tid": 2 * row + 1,
                "name": "created",
                "cat": "tree",
                "ts": _us(when),
                "args": {"parent": names[parent], "parent_tid": 2 * parent + 1},
            }
        )
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
    return {"traceEvents": events, "displayTimeUnit": "ms"}


def write_chrome_trace(snapshot: Snapshot, path: str | os.PathLike[str]) -> str | os.PathLike[str]:
    with open(path, "w", encoding="utf-8") as f:
        json.dump(chrome_trace(snapshot), f)
    return path
