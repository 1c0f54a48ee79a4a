"""Numbers from a timeline: per-lane totals and "how many at the same time"."""

import html


class Summary(list):
    """Per-lane totals: a list of dicts with keys lane, busy, waiting, total, count.

    Times are seconds. ``busy``: time the task's own code ran; ``waiting``: time it was
    suspended; ``total``: its life inside the block (busy + waiting); ``count``: how many steps
    it ran. For a lane without a task (a "server" lane from ``add_spans``, a lane named in
    ``span()``), ``busy`` and ``total`` are the time covered by its spans and ``count`` their
    number. Prints as a table, and shows as one in a notebook.
    """

    COLUMNS = ("lane", "busy", "waiting", "total", "count")

    def _cells(self):
        for row in self:
            yield [row["lane"]] + [f"{row[key] * 1000:.1f} ms" for key in ("busy", "waiting",
                                                                              "total")] + \
                [str(row["count"])]

    def __str__(self):
        rows = [list(self.COLUMNS)] + list(self._cells())
        widths = [max(len(row[i]) for row in rows) for i in range(len(self.COLUMNS))]
        lines = ["  ".join(cell.ljust(w) if i == 0 else cell.rjust(w)
                           for i, (cell, w) in enumerate(zip(row, widths))) for row in rows]
        return "\n".join(lines)

    def _repr_html_(self):
        head = "".join(f"<th>{name}</th>" for name in self.COLUMNS)
        body = "".join("<tr>" + "".join(f"<td>{html.escape(cell)}</td>" for cell in cells) +
                       "</tr>" for cells in self._cells())
        return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def summarize(snapshot):
    lanes = snapshot.lanes
    busy = [0.0] * len(lanes)
    waiting = [0.0] * len(lanes)
    count = [0] * len(lanes)
    for lane, start, end in zip(*snapshot.running):
        busy[lane] += end - start
        count[lane] += 1
    for lane, start, end, _ in zip(*snapshot.waiting):
        waiting[lane] += end - start
    index = {lane.name: i for i, lane in enumerate(lanes)}
    extra = {}
    for span in snapshot.other:
        extra.setdefault(index[span.lane], []).append((span.start, span.end))
    rows = Summary()
    for i, lane in enumerate(lanes):
        if lane.task is None:
            covered = _covered(extra.get(i, []))
            rows.append(dict(lane=lane.name, busy=covered, waiting=0.0, total=covered,
                             count=len(extra.get(i, []))))
        else:
            rows.append(dict(lane=lane.name, busy=busy[i], waiting=waiting[i],
                             total=busy[i] + waiting[i], count=count[i]))
    return rows


def _merge(intervals):
    merged = []
    for start, end in sorted(intervals):
        if end <= start:
            continue
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return merged


def _covered(intervals):
    return sum(end - start for start, end in _merge(intervals))


def max_concurrency(snapshot, match=None):
    """Most lanes that were inside a matching span at the same moment (see Timeline)."""
    per_lane = {}
    if match is None:
        for lane in snapshot.lanes:
            task = lane.task
            if task is not None and not task.block:
                end = task.done if task.done is not None else snapshot.duration
                per_lane.setdefault(lane.name, []).append((task.created, end))
    else:
        if callable(match):
            wanted = match
        elif isinstance(match, str):
            def wanted(span):
                return span.label == match or span.kind == match
        else:
            raise TypeError("max_concurrency() takes a label or kind such as 'sleep' or "
                            f"'phase', or a function span -> bool; got {match!r}")
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
