"""Numbers from a timeline: per-lane totals and "how many at the same time"."""

from __future__ import annotations

import html
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from .model import Lane, Snapshot, Span

Interval = tuple[float, float]
LabelledInterval = tuple[str, float, float]


class Summary(list[dict[str, Any]]):
    """Per-lane totals: a list of dicts with keys lane, busy, waiting, total, count.

    Times are seconds. ``busy``: time the task's own code ran; ``waiting``: time it was
    suspended; ``total``: its life inside the block (busy + waiting); ``count``: how many steps
    it ran. For a lane without a task (a "server" lane from ``add_spans``, a lane named in
    ``span()``), ``busy`` and ``total`` are the time covered by its spans and ``count`` their
    number. Prints as a table, and shows as one in a notebook.
    """

    COLUMNS = ("lane", "busy", "waiting", "total", "count")

    def _cells(self) -> Iterator[list[str]]:
        for row in self:
            yield (
                [row["lane"]]
                + [f"{row[key] * 1000:.1f} ms" for key in ("busy", "waiting", "total")]
                + [str(row["count"])]
            )

    def __str__(self) -> str:
        rows = [list(self.COLUMNS), *list(self._cells())]
        widths = [max(len(row[i]) for row in rows) for i in range(len(self.COLUMNS))]
        lines = [
            "  ".join(cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in enumerate(zip(row, widths)))
            for row in rows
        ]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        head = "".join(f"<th>{name}</th>" for name in self.COLUMNS)
        body = "".join(
            "<tr>" + "".join(f"<td>{html.escape(cell)}</td>" for cell in cells) + "</tr>" for cells in self._cells()
        )
        return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def summarize(snapshot: Snapshot) -> Summary:
    lanes = snapshot.lanes
    busy = [0.0] * len(lanes)
    waiting = [0.0] * len(lanes)
    count = [0] * len(lanes)
    for row, start, end in zip(*snapshot.running):
        busy[row] += end - start
        count[row] += 1
    for row, start, end, _ in zip(*snapshot.waiting):
        waiting[row] += end - start
    index = {lane.name: i for i, lane in enumerate(lanes)}
    extra: dict[int, list[Interval]] = {}
    for span in snapshot.other:
        extra.setdefault(index[span.lane], []).append((span.start, span.end))
    rows = Summary()
    for i, lane in enumerate(lanes):
        if lane.task is None:
            covered = _covered(extra.get(i, []))
            rows.append(
                {"lane": lane.name, "busy": covered, "waiting": 0.0, "total": covered, "count": len(extra.get(i, []))}
            )
        else:
            rows.append(
                {
                    "lane": lane.name,
                    "busy": busy[i],
                    "waiting": waiting[i],
                    "total": busy[i] + waiting[i],
                    "count": count[i],
                }
            )
    return rows


def _merge(intervals: Iterable[Interval]) -> list[list[float]]:
    merged: list[list[float]] = []
    for start, end in sorted(intervals):
        if end <= start:
            continue
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return merged


def _covered(intervals: Iterable[Interval]) -> float:
    return sum(end - start for start, end in _merge(intervals))


def max_concurrency(snapshot: Snapshot, match: str | Callable[[Span], bool] | None = None) -> int:
    """Most lanes that were inside a matching span at the same moment (see Timeline)."""
    per_lane: dict[str, list[Interval]] = {}
    if match is None:
        for lane in snapshot.lanes:
            task = lane.task
            if task is not None and not task.block:
                end = task.done if task.done is not None else snapshot.duration
                per_lane.setdefault(lane.name, []).append((task.created, end))
    else:
        wanted: Callable[[Span], bool]
        if callable(match):
            wanted = match
        elif isinstance(match, str):
            label_or_kind = match

            def wanted(span: Span) -> bool:
                return span.label == label_or_kind or span.kind == label_or_kind
        else:
            raise TypeError(
                "max_concurrency() takes a label or kind such as 'sleep' or "
                f"'phase', or a function span -> bool; got {match!r}"
            )
        for span in snapshot.spans():
            if wanted(span):
                per_lane.setdefault(span.lane, []).append((span.start, span.end))
    events = []
    for intervals in per_lane.values():
        for start, end in _merge(intervals):
            events.append((start, 1))
            events.append((end, -1))
    events.sort()  # at equal times -1 sorts first: touching spans do not overlap
    level = best = 0
    for _, step in events:
        level += step
        best = max(best, level)
    return best


MAX_DESCRIBED_LANES = 8  # a text account stays short: the rest are counted, not listed
MAX_WAITS_NAMED = 3
MINOR_WAIT = 0.05  # waits shorter than this share of a lane's waiting go unnamed


def _ms(seconds: float) -> str:
    return f"{seconds:.2f} s" if seconds >= 1 else f"{seconds * 1000:.1f} ms"


def _most_at_once(intervals: list[Interval]) -> tuple[int, float | None, float | None]:
    """(how many at most, when that began, when it ended) over (start, end) pairs."""
    events = sorted(
        [(start, 1) for start, end in intervals if end > start] + [(end, -1) for start, end in intervals if end > start]
    )
    level = best = 0
    began: float | None = None
    ended: float | None = None
    for when, step in events:
        if step < 0 and level == best and began is not None and ended is None:
            ended = when
        level += step
        if level > best:
            best, began, ended = level, when, None
    return best, began, ended


def _lane_sentence(
    lane: Lane, running: list[Interval], waiting: list[LabelledInterval], spans: list[LabelledInterval]
) -> str:
    name = lane.axis_label
    task = lane.task
    if task is None:
        labels = list(dict.fromkeys(label for label, _, _ in spans))
        named = ", ".join(labels[:MAX_WAITS_NAMED]) + (", ..." if len(labels) > MAX_WAITS_NAMED else "")
        at_once, _, _ = _most_at_once([(s, e) for _, s, e in spans])
        overlap = f", up to {at_once} at once" if at_once > 1 else ""
        return (
            f"{name}: {len(spans)} span{'s' * (len(spans) != 1)} ({named}){overlap}, "
            f"covering {_ms(_covered([(s, e) for _, s, e in spans]))}."
        )
    busy = sum(end - start for start, end in running)
    per_label: dict[str, float] = {}
    for label, start, end in waiting:
        per_label[label] = per_label.get(label, 0.0) + end - start
    waited = sum(per_label.values())
    parts = [f"ran {_ms(busy)}"]
    if waited > 0:
        top = [
            (label, seconds)
            for label, seconds in sorted(per_label.items(), key=lambda item: -item[1])[:MAX_WAITS_NAMED]
            if seconds >= MINOR_WAIT * waited
        ]
        parts.append(f"waited {_ms(waited)} (" + ", ".join(f"{label} {_ms(seconds)}" for label, seconds in top) + ")")
    if not task.block:
        parts.append(f"created at {_ms(task.created)}")
    if task.done is not None and task.outcome is not None:
        ending = {"result": "done", "cancelled": "cancelled", "exception": "failed"}[task.outcome]
        parts.append(f"{ending} at {_ms(task.done)}")
    else:
        parts.append("still running at the end")
    if spans:
        parts.append("phases: " + ", ".join(dict.fromkeys(label for label, _, _ in spans)))
    return f"{name}: " + "; ".join(parts) + "."


def describe(snapshot: Snapshot, title: str | None = None) -> str:
    """A short text account of a timeline: each lane, what it waited on and for how long,
    what overlapped, and the total (see Timeline.describe)."""
    heading = title or snapshot.title or "Timeline"
    if not snapshot.lanes:
        return f"{heading}: nothing recorded."
    n = len(snapshot.lanes)
    running: list[list[Interval]] = [[] for _ in range(n)]
    waiting: list[list[LabelledInterval]] = [[] for _ in range(n)]
    spans: list[list[LabelledInterval]] = [[] for _ in range(n)]
    for row, start, end in zip(*snapshot.running):
        running[row].append((start, end))
    for row, start, end, label in zip(*snapshot.waiting):
        waiting[row].append((label, start, end))
    index = {lane.name: i for i, lane in enumerate(snapshot.lanes)}
    for span in snapshot.other:
        spans[index[span.lane]].append((span.label, span.start, span.end))
    tasks = [lane.task for lane in snapshot.lanes if lane.task is not None and not lane.task.block]
    lines = [
        f"{heading}: {_ms(snapshot.duration)} in all, "
        f"{n} lane{'s' * (n != 1)} ({len(tasks)} task{'s' * (len(tasks) != 1)} "
        f"created in the block)."
    ]
    for i, lane in enumerate(snapshot.lanes[:MAX_DESCRIBED_LANES]):
        lines.append("- " + _lane_sentence(lane, running[i], waiting[i], spans[i]))
    if n > MAX_DESCRIBED_LANES:
        lines.append(f"- ... and {n - MAX_DESCRIBED_LANES} more lanes.")
    alive = [(t.created, t.done if t.done is not None else snapshot.duration) for t in tasks]
    at_once, began, ended = _most_at_once(alive)
    if at_once > 1 and began is not None and ended is not None:  # both are set whenever at_once > 0
        lines.append(
            f"Overlap: up to {at_once} tasks ran or waited at the same time (from {_ms(began)} to {_ms(ended)})."
        )
    elif len(tasks) > 1:
        lines.append("Overlap: none; the tasks ran one after another.")
    shared: dict[str, set[str]] = {}  # a phase on several lanes (a request, a query): how many at once
    for span in snapshot.other:
        shared.setdefault(span.label, set()).add(span.lane)
    overlapping = [
        (label, max_concurrency(snapshot, label), len(lanes)) for label, lanes in shared.items() if len(lanes) > 1
    ]
    for label, at_once, lanes in [o for o in overlapping if o[1] > 1][:MAX_WAITS_NAMED]:
        lines.append(f"'{label}' was on up to {at_once} of {lanes} lanes at once.")
    lines.append(f"Total: {_ms(snapshot.duration)}.")
    return "\n".join(lines)
