"""Numbers from a timeline: per-lane totals and "how many at the same time"."""

from __future__ import annotations

import html
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from .model import Lane, ResourceTrack, Snapshot, Span
from .phases import SEPARATOR

Interval = tuple[float, float]
LabelledInterval = tuple[str, float, float]


class Summary(list[dict[str, Any]]):
    """Per-lane totals: a list of dicts with keys lane, busy, waiting, total, count, blocked,
    phases.

    Times are seconds. ``lane`` is named as in the diagram (the block's own task is
    "cell (block)"). ``busy``: time the task's own code ran; ``waiting``: time it was
    suspended; ``total``: its life inside the block (busy + waiting); ``count``: how many steps
    it ran; ``blocked``: time its steps held up the whole loop (steps of ``blocked_ms`` or
    more); ``phases``: the phases read from its await chain, with their time, in words
    ("AsyncResource.__aenter__ 10.4 ms, AsyncResource.__aexit__ 10.2 ms"). For a lane without
    a task (a "server" lane from ``add_spans``, a lane named in ``span()``), ``busy`` and
    ``total`` are the time covered by its spans and ``count`` their number. Prints as a
    table, and shows as one in a notebook (the blocked and phases columns only when some lane
    has them).

    Below the table, in the same words as ``describe()``: ``tree``, one line per task that
    created others ("cell (block) created worker-1, worker-2"), and ``resources``, one dict per
    resource track (track, kind, peak, capacity, held: seconds in use).
    """

    COLUMNS = ("lane", "busy", "waiting", "total", "count", "blocked", "phases")
    tree: list[str]
    resources: list[dict[str, Any]]

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.tree = []
        self.resources = []

    def _notes(self) -> list[str]:
        lines = [f"tree: {line}" for line in self.tree]
        lines += [f"resource: {resource_sentence(r)}" for r in self.resources]
        return lines

    def _columns(self) -> list[str]:
        optional = {
            "blocked": any(row.get("blocked") for row in self),
            "phases": any(row.get("phases") for row in self),
        }
        return [c for c in self.COLUMNS if optional.get(c, True)]

    def _cells(self) -> Iterator[list[str]]:
        columns = self._columns()
        for row in self:
            cells = {"lane": row["lane"], "count": str(row["count"]), "phases": row.get("phases", "")}
            for key in ("busy", "waiting", "total", "blocked"):
                cells[key] = f"{row.get(key, 0.0) * 1000:.1f} ms"
            yield [cells[c] for c in columns]

    def __str__(self) -> str:
        columns = self._columns()
        rows = [columns, *list(self._cells())]
        widths = [max(len(row[i]) for row in rows) for i in range(len(columns))]
        lines = [
            "  ".join(
                cell.ljust(w) if columns[i] in ("lane", "phases") else cell.rjust(w)
                for i, (cell, w) in enumerate(zip(row, widths))
            ).rstrip()
            for row in rows
        ]
        return "\n".join(lines + self._notes())

    def _repr_html_(self) -> str:
        head = "".join(f"<th>{name}</th>" for name in self._columns())
        body = "".join(
            "<tr>" + "".join(f"<td>{html.escape(cell)}</td>" for cell in cells) + "</tr>" for cells in self._cells()
        )
        notes = "".join(f"<br>{html.escape(line)}" for line in self._notes())
        return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>{notes}"


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
    blocked = [0.0] * len(lanes)
    for start, end, lane in _blocked_lanes(snapshot):
        blocked[lane] += end - start
    phases = _phase_words(snapshot)
    rows = Summary()
    for i, lane_info in enumerate(lanes):
        if lane_info.task is None:
            covered = _covered(extra.get(i, []))
            rows.append(
                {
                    "lane": lane_info.name,
                    "busy": covered,
                    "waiting": 0.0,
                    "total": covered,
                    "count": len(extra.get(i, [])),
                    "blocked": 0.0,
                    "phases": "",
                }
            )
        else:
            rows.append(
                {
                    # The block's own lane as the diagram names it ("cell (block)").
                    "lane": lane_info.axis_label if lane_info.task.block else lane_info.name,
                    "busy": busy[i],
                    "waiting": waiting[i],
                    "total": busy[i] + waiting[i],
                    "count": count[i],
                    "blocked": blocked[i],
                    "phases": phases.get(i, ""),
                }
            )
    rows.tree = tree_lines(snapshot)
    rows.resources = [resource_use(track, snapshot.duration) for track in snapshot.tracks]
    return rows


def tree_lines(snapshot: Snapshot) -> list[str]:
    """One line per lane whose task created others: "cell (block) created worker-1,
    worker-2; waited on them in TaskGroup.__aexit__"."""
    children: dict[int, list[str]] = {}
    for each in snapshot.lanes:
        if each.parent is not None:
            children.setdefault(each.parent, []).append(each.name)
    waits: dict[int, dict[str, list[str]]] = {}
    for i, lanes in snapshot.awaited_in_wait.items():
        lane = snapshot.waiting[0][i]
        how = _how_awaited(snapshot.waiting[3][i])
        names = waits.setdefault(lane, {}).setdefault(how, [])
        names.extend(n for n in (snapshot.lanes[a].name for a in lanes) if n not in names)
    lines = []
    for parent, created in children.items():
        line = f"{snapshot.lanes[parent].axis_label} created {_names(created)}"
        for how, waited_on in waits.get(parent, {}).items():
            whom = "them" if waited_on == created else _names(waited_on)
            line += f"; waited on {whom} in {how}"
        lines.append(line)
    return lines


def _how_awaited(label: str) -> str:
    from .phases import split

    what = split(label)[1]
    return "await" if what.startswith("await ") else what


def _names(names: list[str]) -> str:
    shown = ", ".join(names[:MAX_DESCRIBED_LANES])
    more = len(names) - MAX_DESCRIBED_LANES
    return shown + (f" and {more} more" if more > 0 else "")


def resource_use(track: ResourceTrack, duration: float) -> dict[str, Any]:
    """A resource track in numbers: its peak use and how long it was in use at all."""
    held = 0.0
    times = [*track.times, duration]
    for n, level in enumerate(track.levels):
        if level > 0:
            held += max(0.0, times[n + 1] - times[n])
    return {"track": track.label, "kind": track.kind, "peak": track.peak, "capacity": track.capacity, "held": held}


def resource_sentence(use: dict[str, Any]) -> str:
    """The use of a track in words: "sem: Semaphore(2), peak 2 of 2 permits in use; in use 158.2 ms"."""
    kind, peak, capacity = use["kind"], use["peak"], use["capacity"]
    if kind in ("lock", "condition"):
        text = f"held {_ms(use['held'])}" if peak else "never held"
    elif kind == "semaphore":
        of = f" of {capacity}" if capacity else ""
        text = f"peak {peak}{of} permit{'s' * ((capacity or peak) != 1)} in use; in use {_ms(use['held'])}"
    elif kind == "queue":
        text = f"peak {peak} item{'s' * (peak != 1)}; not empty {_ms(use['held'])}"
    else:
        text = f"set for {_ms(use['held'])}" if peak else "never set"
    return f"{use['track']}, {text}"


def _blocked_lanes(snapshot: Snapshot) -> list[tuple[float, float, int]]:
    """(start, end, lane index) of each blocked span: the running span it was."""
    running = {(start, end): lane for lane, start, end in zip(*snapshot.running)}
    return [(start, end, running[(start, end)]) for start, end, _ in snapshot.blocked if (start, end) in running]


def _phase_words(snapshot: Snapshot) -> dict[int, str]:
    """Lane index -> "AsyncResource.__aenter__ 10.4 ms, ...": each phase read from the await
    chain with the time of its bands, in order of first appearance."""
    from .phases import PHASE_KINDS

    index = {lane.name: i for i, lane in enumerate(snapshot.lanes)}
    per_lane: dict[int, dict[str, float]] = {}
    for span in sorted(snapshot.other, key=lambda s: s.start):
        if span.kind in PHASE_KINDS and snapshot.lanes[index[span.lane]].task is not None:
            times: dict[str, float] = per_lane.setdefault(index[span.lane], {})
            times[span.label] = times.get(span.label, 0.0) + span.end - span.start
    return {lane: ", ".join(f"{label} {_ms(t)}" for label, t in times.items()) for lane, times in per_lane.items()}


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

            def wanted(span: Span) -> bool:
                # "sleep" also matches a wait in a phase, "AsyncResource.__aenter__ › sleep"
                return span.label == match or span.kind == match or span.label.endswith(SEPARATOR + match)
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
        times: dict[str, float] = {}
        for label, start, end in spans:
            times[label] = times.get(label, 0.0) + end - start
        parts.append("phases: " + ", ".join(f"{label} {_ms(t)}" for label, t in times.items()))
    return f"{name}: " + "; ".join(parts) + "."


def _blocked_sentences(snapshot: Snapshot) -> list[str]:
    """One line per step that blocked the loop (the longest first, at most three)."""
    spans = sorted(snapshot.blocked, key=lambda b: b[0] - b[1])
    lines = [
        f"The loop was blocked from {_ms(start)} to {_ms(end)} ({_ms(end - start)}): "
        f"{text.partition(': ')[2]}; no other task could run meanwhile."
        for start, end, text in spans[:MAX_WAITS_NAMED]
    ]
    if len(spans) > MAX_WAITS_NAMED:
        lines.append(f"... and {len(spans) - MAX_WAITS_NAMED} more blocked stretches.")
    return lines


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
    lines.extend(_blocked_sentences(snapshot))
    lines.extend(f"Tree: {line}." for line in tree_lines(snapshot)[:MAX_DESCRIBED_LANES])
    lines.extend(f"Track {resource_sentence(resource_use(track, snapshot.duration))}." for track in snapshot.tracks)
    lines.append(f"Total: {_ms(snapshot.duration)}.")
    return "\n".join(lines)
