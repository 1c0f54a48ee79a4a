"""Where things go on a timeline figure: which lane on which row, and the figure's size."""

import numpy as np

MAX_AXES_HEIGHT = 12.0  # inches: with many lanes, rows get thinner instead


class Layout:
    """Which lane goes on which row, and the row geometry."""

    def __init__(self, snapshot, group):
        order = list(range(len(snapshot.lanes)))
        self.groups = []  # [group name, first row, last row]
        if group is not None:
            lookup = group.get if isinstance(group, dict) else group
            if not callable(lookup):
                raise TypeError("plot(group=...) takes a dict {lane: group} or a function "
                                f"lane -> group, not {group!r}")
            names = [lookup(snapshot.lanes[i].name) for i in order]
            first_seen = {}
            for name in names:
                first_seen.setdefault(name, len(first_seen))
            order.sort(key=lambda i: first_seen[names[i]])
            for row, i in enumerate(order):
                name = names[i]
                if self.groups and self.groups[-1][0] == name:
                    self.groups[-1][2] = row
                else:
                    self.groups.append([name, row, row])
        self.row_of = np.empty(len(order), dtype=float)
        for row, i in enumerate(order):
            self.row_of[i] = row
        self.order = order
        task_lanes = {lane.name for lane in snapshot.lanes if lane.task is not None}
        self.has_phases = any(span.lane in task_lanes for span in snapshot.other)
        # Row geometry (rows grow downwards): steps in the middle, phases along the top.
        self.step_center = 0.12 if self.has_phases else 0.0
        self.running_half = 0.2 if self.has_phases else 0.28
        self.waiting_half = 0.1 if self.has_phases else 0.14
        self.phase_top, self.phase_bottom = -0.44, -0.12

    @property
    def rows(self):
        return len(self.order)


def figure_size(layouts, snapshots, live):
    """Figure width and height, and the margins around the axes (inches)."""
    rows = sum(layout.rows for layout in layouts)
    row_height = 0.34 if any(layout.has_phases for layout in layouts) else 0.28
    labels = [lane.axis_label for s in snapshots for lane in s.lanes] or [""]
    left = min(3.2, 0.3 + 0.075 * max(len(label) for label in labels))
    groups = [str(g[0]) for layout in layouts for g in layout.groups if g[0] is not None]
    right = 0.3 + (min(2.0, 0.075 * max(len(g) for g in groups)) if groups else 0.0)
    width = 8.0 if live else 10.0
    axes_height = min(MAX_AXES_HEIGHT, max(0.8, row_height * rows))
    axes_height += 0.45 * (len(layouts) - 1)  # room for a second title
    top, bottom = 0.72, 0.55
    return width, axes_height + top + bottom, left, right, top, bottom


def place_axes(left, right, top, bottom, width, height):
    """Axes rectangle in figure fractions, from margins in inches."""
    return [left / width, bottom / height, 1 - (left + right) / width,
            1 - (top + bottom) / height]
