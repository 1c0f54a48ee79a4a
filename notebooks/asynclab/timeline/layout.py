"""Where things go on a timeline figure: which lane on which row, how tall each row is, and
the figure's size.

y grows downwards, in "row units" (one unit is one ordinary lane). A lane whose spans overlap
(a server handling requests at once, nested phases) gets stacked sub-rows and grows with their
depth, so no two bars, and no two labels, are drawn on top of one another.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from .model import Snapshot, Span

# plot(group=...): a dict {lane: group} or a function lane -> group
Grouping = Mapping[str, Any] | Callable[[str], Any]

MAX_AXES_HEIGHT = 12.0  # inches: with many lanes, rows get thinner instead
SPAN_ROW = 0.6  # row units per sub-row of a lane of spans only (a "server" lane)
PHASE_ROW = 0.32  # row units per level of phases along the top of a task's lane
PHASE_ROW_NESTED = 0.38  # ...when phases nest: room for a label on each level
BLOCKED_ROW = 0.6  # row units above the top lane for the labels of a blocked loop
TRACK_ROW = 0.7  # row units of a resource track (a lock, a queue, ...)...
TRACK_SLOT = 0.45  # ...and per permit a semaphore's track shows, up to MAX_TRACK_SLOTS
MAX_TRACK_SLOTS = 3
TREE_STEP = 7.0  # points between the task tree's levels, left of the axes
ROW_HEIGHT = 0.28  # inches per row unit...
PHASE_ROW_HEIGHT = 0.36  # ...when lanes have phases: a phase label above the wait labels


def sub_rows(spans: Sequence[Span]) -> list[int]:
    """Sub-row of each span within its lane, so that overlapping spans do not cover each
    other: nested phases step down one level; overlapping requests take turns."""
    rows = [0] * len(spans)
    row_ends: dict[str, list[float]] = {}  # lane -> end time of the last span on each sub-row
    for i in sorted(range(len(spans)), key=lambda i: (spans[i].start, -spans[i].end)):
        ends = row_ends.setdefault(spans[i].lane, [])
        free = [r for r, end in enumerate(ends) if end <= spans[i].start]
        row = free[0] if free else len(ends)
        if row == len(ends):
            ends.append(spans[i].end)
        else:
            ends[row] = spans[i].end
        rows[i] = row
    return rows


class Layout:
    """Which lane goes on which row, and the row geometry.

    Per lane (indexed like ``snapshot.lanes``): ``row_of`` its row number (0 at the top),
    ``top``/``height``/``center`` its extent in row units, ``step_y`` the centre line of its
    running and waiting bars. ``levels`` is the sub-row of each span of ``snapshot.other``,
    ``depth`` the number of sub-rows of each lane (0 if it has no such spans).
    """

    def __init__(self, snapshot: Snapshot, group: Grouping | None) -> None:
        from .model import tree_order

        # Each task's children right under it (creation order among siblings).
        order = tree_order(snapshot.lanes)
        self.tree = group is None and any(lane.depth > 1 or lane.parent is not None for lane in snapshot.lanes)
        self.groups: list[list[Any]] = []  # [group name, first row, last row]
        if group is not None:
            lookup = group.get if isinstance(group, dict) else group
            if not callable(lookup):
                raise TypeError(
                    f"plot(group=...) takes a dict {{lane: group}} or a function lane -> group, not {group!r}"
                )
            names = {i: lookup(snapshot.lanes[i].name) for i in order}
            first_seen: dict[Any, int] = {}
            for i in order:
                first_seen.setdefault(names[i], len(first_seen))
            order.sort(key=lambda i: first_seen[names[i]])
            for row, i in enumerate(order):
                name = names[i]
                if self.groups and self.groups[-1][0] == name:
                    self.groups[-1][2] = row
                else:
                    self.groups.append([name, row, row])
        self.order = order
        self.row_of = np.empty(len(order), dtype=float)
        for row, i in enumerate(order):
            self.row_of[i] = row
        index = {lane.name: i for i, lane in enumerate(snapshot.lanes)}
        self.levels = sub_rows(snapshot.other)
        self.depth = np.zeros(len(order), dtype=int)
        for span, level in zip(snapshot.other, self.levels):
            lane = index[span.lane]
            self.depth[lane] = max(self.depth[lane], level + 1)
        task_lane = np.array([lane.task is not None for lane in snapshot.lanes], dtype=bool)
        self.task_lane = task_lane
        self.has_phases = bool(np.any(task_lane & (self.depth > 0)))
        # Phases run along the top of a task's row, its steps below them.
        self.phase_row = np.where(self.depth > 1, PHASE_ROW_NESTED, PHASE_ROW)
        self.height = np.ones(len(order))
        self.height[task_lane] += np.maximum(self.depth[task_lane] * self.phase_row[task_lane] - PHASE_ROW, 0)
        spans_only = ~task_lane
        self.height[spans_only] = np.maximum(1.0, self.depth[spans_only] * SPAN_ROW + 0.28)
        self.top = np.empty(len(order))
        self.top[order] = np.concatenate([[0.0], np.cumsum(self.height[order])[:-1]]) if order else []
        self.center = self.top + self.height / 2
        self.phase_top = self.top + 0.06
        self.running_half = 0.2 if self.has_phases else 0.28
        self.waiting_half = 0.1 if self.has_phases else 0.14
        self.step_y = np.where(self.has_phases, self.top + self.height - 0.38, self.center)
        # Resource tracks: thin rows below the lanes.
        lanes_height = float(self.height.sum())
        self.track_top: list[float] = []
        self.track_height: list[float] = []
        for track in getattr(snapshot, "tracks", ()):
            self.track_top.append(lanes_height + sum(self.track_height))
            self.track_height.append(track_height(track))
        self.tree_depth = max((lane.depth for lane in snapshot.lanes), default=0) if self.tree else 0

    @property
    def rows(self) -> int:
        return len(self.order)

    @property
    def total_height(self) -> float:
        """Height of all rows (lanes and tracks), in row units."""
        return float(self.height.sum()) + sum(self.track_height)

    @property
    def tree_gap(self) -> float:
        """Points between the lane labels and the axes, for the task tree's connectors."""
        return TREE_STEP * self.tree_depth + 4.0 if self.tree_depth else 0.0

    def row_extent(self, first: int, last: int) -> tuple[float, float]:
        """Top and bottom (row units) of rows ``first`` to ``last`` (row numbers)."""
        first_lane, last_lane = self.order[first], self.order[last]
        return self.top[first_lane], self.top[last_lane] + self.height[last_lane]


def track_height(track: Any) -> float:
    """Row units of a resource track: a semaphore shows one slot per permit (up to three)."""
    if track.kind == "semaphore" and track.capacity:
        return TRACK_ROW + TRACK_SLOT * (min(track.capacity, MAX_TRACK_SLOTS) - 1)
    return TRACK_ROW


def figure_size(
    layouts: Sequence[Layout], snapshots: Sequence[Snapshot], live: bool
) -> tuple[float, float, float, float, float, float]:
    """Figure width and height, and the margins around the axes (inches)."""
    units = sum(layout.total_height for layout in layouts)
    units += BLOCKED_ROW * sum(1 for s in snapshots if getattr(s, "blocked", None))
    row_height = PHASE_ROW_HEIGHT if any(layout.has_phases for layout in layouts) else ROW_HEIGHT
    labels = [lane.axis_label for s in snapshots for lane in s.lanes] or [""]
    labels += [
        track.label + " (peak 99)" * (track.kind == "queue") for s in snapshots for track in getattr(s, "tracks", ())
    ]
    left = min(3.2, 0.3 + 0.075 * max(len(label) for label in labels))  # <= 38 characters
    left += max((layout.tree_gap for layout in layouts), default=0.0) / 72
    groups = [str(g[0]) for layout in layouts for g in layout.groups if g[0] is not None]
    right = 0.3 + (min(2.0, 0.075 * max(len(g) for g in groups)) if groups else 0.0)
    width = 8.0 if live else 10.0
    axes_height = min(MAX_AXES_HEIGHT, max(0.8, row_height * units))
    top, bottom = 0.72, 0.55
    return width, axes_height + top + bottom, left, right, top, bottom


def place_axes(
    left: float, right: float, top: float, bottom: float, width: float, height: float
) -> tuple[float, float, float, float]:
    """Axes rectangle in figure fractions, from margins in inches."""
    return (left / width, bottom / height, 1 - (left + right) / width, 1 - (top + bottom) / height)
