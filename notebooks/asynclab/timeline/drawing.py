"""Drawing a timeline with matplotlib: one lane (row) per task, time in ms across.

Figures are made with ``matplotlib.figure.Figure`` directly, not pyplot, so they never pile up
in pyplot's list of open figures. All bars of one kind go into a single collection: one artist
per bar would take many seconds for tens of thousands of steps.
"""

import io

import numpy as np
from matplotlib.collections import PolyCollection
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from .layout import Layout, figure_size, place_axes

DPI = 100
LIVE_DPI = 60
MAX_TICK_LABELS = 40  # more lanes than this: label only some of them (ticks are costly)
MAX_TEXT_LABELS = 80  # labels written inside bars, widest bars first
HATCH_LIMIT = 5000  # hatching many thousands of bars is slow and unreadable anyway

PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
           "#7f7f7f", "#bcbd22", "#17becf"]
KIND_COLORS = {"phase": "#6a51a3", "server": "#238b45"}
EXTRA_KIND_COLORS = ["#d95f02", "#1b9e77", "#e7298a", "#66a61e", "#a6761d"]
OUTCOME_STYLE = {  # marker, colour, legend text
    "result": ("o", "#222222", "done"),
    "cancelled": ("x", "#e6550d", "cancelled"),
    "exception": ("X", "#cb181d", "failed"),
}
NOTHING_RECORDED = ("Nothing recorded yet.\n"
                    "Put the work inside  `async with Timeline() as tl:`  "
                    "and plot after the block.")


class TimelineFigure(Figure):
    """A matplotlib Figure that shows itself as a PNG in notebooks, with or without pyplot."""

    def _repr_png_(self):
        return png_bytes(self)


def png_bytes(figure, dpi=None):
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi or figure.dpi, facecolor="white")
    return buffer.getvalue()


def _new_figure(width, height, dpi=DPI):
    figure = TimelineFigure(figsize=(width, height), dpi=dpi, facecolor="white")
    figure.patch.set_alpha(1.0)  # opaque: readable on a dark notebook theme too
    return figure


def waiting_figure(title):
    """The first live frame, before anything happened."""
    figure = _new_figure(8, 1.2, dpi=LIVE_DPI)
    ax = figure.add_axes([0, 0, 1, 1])
    ax.set_axis_off()
    ax.text(0.5, 0.5, f"{title + ': ' if title else ''}recording...", ha="center",
            va="center", fontsize=12, color="#555555")
    return figure


# -- drawing ------------------------------------------------------------------------------


def _boxes(x0, x1, y0, y1):
    """(N, 4, 2) rectangle corners for a PolyCollection."""
    return np.stack([np.stack([x0, y0], -1), np.stack([x1, y0], -1),
                     np.stack([x1, y1], -1), np.stack([x0, y1], -1)], axis=1)


def _lighter(colors, amount):
    return colors + (1.0 - colors) * amount


def _lane_colors(layout):
    from matplotlib.colors import to_rgba_array

    palette = to_rgba_array(PALETTE)
    return palette[layout.row_of.astype(int) % len(palette)]


def _text_fits(ax, widths_ms, labels, xmax_ms, fontsize):
    """Which bars are wide enough for their label (estimated from the axes' pixel width)."""
    bbox = ax.get_window_extent()
    px_per_ms = bbox.width / xmax_ms
    char_px = fontsize * 0.62 * ax.figure.dpi / 72
    needed = np.array([len(label) * char_px + 4 for label in labels])
    fits = np.nonzero(widths_ms * px_per_ms >= needed)[0] if len(labels) else np.array([], int)
    return fits[np.argsort(-widths_ms[fits])][:MAX_TEXT_LABELS]


def _draw_steps(ax, snapshot, layout, xmax_ms, live):
    colors = _lane_colors(layout)
    min_width = xmax_ms / max(ax.get_window_extent().width, 1) * 0.8  # short steps stay visible
    lanes, starts, ends = (np.asarray(a) for a in snapshot.running)
    if len(lanes):
        rows = layout.row_of[lanes] + layout.step_center
        x0 = starts * 1000
        x1 = np.maximum(ends * 1000, x0 + min_width)
        ax.add_collection(PolyCollection(
            _boxes(x0, x1, rows - layout.running_half, rows + layout.running_half),
            facecolors=colors[lanes], edgecolors="none", linewidths=0,
            antialiaseds=len(lanes) < 2000, zorder=3))
    lanes, starts, ends, labels = snapshot.waiting
    lanes, starts, ends = np.asarray(lanes, dtype=int), np.asarray(starts), np.asarray(ends)
    if len(lanes):
        rows = layout.row_of[lanes] + layout.step_center
        waiting = PolyCollection(
            _boxes(starts * 1000, ends * 1000, rows - layout.waiting_half,
                   rows + layout.waiting_half),
            facecolors=_lighter(colors[lanes], 0.72), edgecolors="none", linewidths=0,
            antialiaseds=len(lanes) < 2000, zorder=2)
        if len(lanes) <= HATCH_LIMIT:
            waiting.set_hatch("////")
            waiting.set_hatchcolor("#9a9a9a")
            waiting.set_hatch_linewidth(0.5)
        ax.add_collection(waiting)
        if not live:
            widths = (ends - starts) * 1000
            for i in _text_fits(ax, widths, labels, xmax_ms, 7):
                ax.text((starts[i] + ends[i]) * 500, rows[i], labels[i], ha="center",
                        va="center", fontsize=7, color="#333333", zorder=4, clip_on=True)


def _kind_colors(snapshot):
    colors = dict(KIND_COLORS)
    extra = iter(EXTRA_KIND_COLORS * 10)
    for span in snapshot.other:
        if span.kind not in colors:
            colors[span.kind] = next(extra)
    return colors


def _sub_rows(spans):
    """Sub-row of each span within its lane, so that overlapping spans do not cover each
    other: nested phases step down one level; overlapping requests take turns."""
    rows = [0] * len(spans)
    row_ends = {}  # lane -> end time of the last span on each sub-row
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


def _draw_other_spans(ax, snapshot, layout, xmax_ms, kind_colors, live):
    """Phases (on task lanes, along the top of the row) and lanes of spans only."""
    from matplotlib.colors import to_rgba

    spans = snapshot.other
    if not spans:
        return
    index = {lane.name: i for i, lane in enumerate(snapshot.lanes)}
    levels = _sub_rows(spans)
    depth = {}
    for span, level in zip(spans, levels):
        depth[span.lane] = min(3, max(depth.get(span.lane, 1), level + 1))
    x0, x1, y0, y1, faces, edges, labels, centers = [], [], [], [], [], [], [], []
    for span, level in zip(spans, levels):
        lane = index[span.lane]
        row = layout.row_of[lane]
        if snapshot.lanes[lane].task is None:  # a lane of its own: use the whole row
            band_top, band_bottom = row - 0.36, row + 0.36
        else:  # phases of a task: along the top of its row
            band_top, band_bottom = row + layout.phase_top, row + layout.phase_bottom
        band = (band_bottom - band_top) / depth[span.lane]
        top = band_top + band * min(level, depth[span.lane] - 1)
        bottom = top + band * 0.9
        color = kind_colors[span.kind]
        x0.append(span.start * 1000)
        x1.append(max(span.end * 1000, span.start * 1000 + xmax_ms / 800))
        y0.append(top)
        y1.append(bottom)
        faces.append(to_rgba(color, 0.28))
        edges.append(to_rgba(color, 0.9))
        labels.append(span.label)
        centers.append((top + bottom) / 2)
    x0, x1 = np.array(x0), np.array(x1)
    ax.add_collection(PolyCollection(_boxes(x0, x1, np.array(y0), np.array(y1)),
                                     facecolors=faces, edgecolors=edges, linewidths=0.6,
                                     zorder=5))
    if not live:
        for i in _text_fits(ax, x1 - x0, labels, xmax_ms, 6.5):
            ax.text((x0[i] + x1[i]) / 2, centers[i], labels[i], ha="center", va="center",
                    fontsize=6.5, color="#222222", zorder=6, clip_on=True)


def _draw_markers(ax, snapshot, layout, live):
    handles = []
    if snapshot.created:
        lanes, times = zip(*snapshot.created)
        ax.scatter(np.array(times) * 1000, layout.row_of[list(lanes)] + layout.step_center,
                   marker="|", s=60, color="#444444", linewidths=1.0, zorder=6)
        handles.append(Line2D([], [], marker="|", color="#444444", linestyle="none",
                              markersize=8, label="created"))
    for outcome, (marker, color, text) in OUTCOME_STYLE.items():
        points = [(lane, when) for lane, when, o in snapshot.outcomes if o == outcome]
        if not points:
            continue
        lanes, times = zip(*points)
        ax.scatter(np.array(times) * 1000, layout.row_of[list(lanes)] + layout.step_center,
                   marker=marker, s=22 if marker == "o" else 36, color=color,
                   linewidths=1.3, zorder=7)
        handles.append(Line2D([], [], marker=marker, color=color, linestyle="none",
                              markersize=6, label=text))
    if snapshot.marks:
        lanes, times, labels = zip(*snapshot.marks)
        rows = layout.row_of[list(lanes)] - 0.38
        xs = np.array(times) * 1000
        ax.scatter(xs, rows, marker="v", s=28, color="#6a51a3", zorder=8)
        if not live:
            late = 0.75 * ax.get_xlim()[1]  # near the right edge: write the label leftwards
            for x, y, label in list(zip(xs, rows, labels))[:MAX_TEXT_LABELS]:
                ax.text(x, y - 0.05, f" {label} ", fontsize=7, color="#6a51a3", va="bottom",
                        ha="right" if x > late else "left", zorder=8, clip_on=True)
        handles.append(Line2D([], [], marker="v", color="#6a51a3", linestyle="none",
                              markersize=6, label="mark"))
    return handles


def _draw(ax, snapshot, layout, xmax_ms, live, kind_colors):
    """Everything for one timeline on one axes; returns legend handles."""
    ax.set_facecolor("white")
    ax.set_xlim(0, xmax_ms)
    # Mark labels are written above their lane: leave room for them above the top row.
    top_marked = not live and any(layout.row_of[lane] == 0 for lane, _, _ in snapshot.marks)
    ax.set_ylim(layout.rows - 0.5, -0.95 if top_marked else -0.5)
    for spine in ("top", "right"):
        ax.spines[spine].set_visible(False)
    ax.grid(axis="x", color="#e6e6e6", linewidth=0.8, zorder=0)
    ax.set_axisbelow(True)
    labels = [snapshot.lanes[i].axis_label for i in layout.order]
    rows = list(range(layout.rows))
    if len(rows) > MAX_TICK_LABELS:
        step = -(-len(rows) // MAX_TICK_LABELS)
        rows = rows[::step]
    ax.set_yticks(rows, [labels[r] for r in rows], fontsize=8)
    ax.tick_params(axis="y", length=0)
    for n, (name, first, last) in enumerate(layout.groups):
        if n % 2 == 0:
            ax.axhspan(first - 0.5, last + 0.5, color="#f2f2f2", zorder=0, linewidth=0)
        if name is not None:
            ax.text(1.01, (first + last) / 2, str(name), transform=ax.get_yaxis_transform(),
                    ha="left", va="center", fontsize=8, fontweight="bold", color="#555555")
    _draw_steps(ax, snapshot, layout, xmax_ms, live)
    _draw_other_spans(ax, snapshot, layout, xmax_ms, kind_colors, live)
    handles = [Patch(facecolor=PALETTE[0], label="running"),
               Patch(facecolor=_lighter(np.array([0.12, 0.47, 0.71]), 0.72), hatch="////",
                     edgecolor="#9a9a9a", linewidth=0, label="waiting (on what: in the bar)")]
    for kind in sorted({span.kind for span in snapshot.other}):
        handles.append(Patch(facecolor=kind_colors[kind], alpha=0.4,
                             edgecolor=kind_colors[kind], label=kind))
    handles += _draw_markers(ax, snapshot, layout, live)
    return handles


def _title(snapshot, title, live):
    text = title or snapshot.title or "Timeline"
    state = "recording... " if live else ""
    return f"{text}  ({state}{snapshot.duration * 1000:.1f} ms)"


def _empty(ax):
    ax.set_axis_off()
    ax.text(0.5, 0.5, NOTHING_RECORDED, ha="center", va="center", fontsize=11,
            color="#444444", transform=ax.transAxes)


def plot(snapshot, ax=None, group=None, live=False):
    """The figure for one timeline (see Timeline.plot)."""
    if not snapshot.lanes:
        if ax is None:
            figure = _new_figure(8, 2)
            ax = figure.add_axes([0, 0, 1, 1])
        _empty(ax)
        return ax.figure
    layout = Layout(snapshot, group)
    xmax_ms = max(snapshot.duration * 1000, 1e-3) * 1.01
    if ax is not None:  # the caller's axes: draw, and leave the layout to them
        handles = _draw(ax, snapshot, layout, xmax_ms, live, _kind_colors(snapshot))
        ax.set_xlabel("time since the block started (ms)", fontsize=9)
        ax.set_title(_title(snapshot, None, live), loc="left", fontsize=10, fontweight="bold")
        return ax.figure
    width, height, left, right, top, bottom = figure_size([layout], [snapshot], live)
    figure = _new_figure(width, height, dpi=LIVE_DPI if live else DPI)
    ax = figure.add_axes(place_axes(left, right, top, bottom, width, height))
    handles = _draw(ax, snapshot, layout, xmax_ms, live, _kind_colors(snapshot))
    ax.set_xlabel("time since the block started (ms)", fontsize=9)
    ax.legend(handles=handles, loc="lower left", bbox_to_anchor=(0, 1.0), ncol=len(handles),
              frameon=False, fontsize=7.5, handlelength=1.4, columnspacing=1.2,
              borderaxespad=0.2)
    figure.text(left / width, 1 - 0.12 / height, _title(snapshot, None, live), ha="left",
                va="top", fontsize=11, fontweight="bold")
    return figure


def compare(first, second, titles=None):
    """Two timelines stacked on one time axis (see Timeline.compare)."""
    snapshots = [first, second]
    titles = list(titles) if titles is not None else [None, None]
    if len(titles) != 2:
        raise ValueError(f"compare(titles=...) needs two titles, got {titles!r}")
    layouts = [Layout(s, None) if s.lanes else None for s in snapshots]
    drawn = [(s, layout) for s, layout in zip(snapshots, layouts) if layout is not None]
    width, height, left, right, top, bottom = figure_size(
        [layout for _, layout in drawn], [s for s, _ in drawn], False)
    height += 0.5 * (2 - len(drawn)) + 0.35  # room for an empty panel, and the second title
    figure = _new_figure(width, height)
    box = place_axes(left, right, top, bottom, width, height)
    ratios = [max(1, layout.rows) if layout is not None else 1 for layout in layouts]
    grid = figure.add_gridspec(2, 1, height_ratios=ratios, hspace=0.6 / (box[3] * height),
                               left=box[0], right=box[0] + box[2], bottom=box[1],
                               top=box[1] + box[3])
    xmax_ms = max(max(s.duration for s in snapshots) * 1000, 1e-3) * 1.01
    kind_colors = _kind_colors(_Merged(snapshots))
    axes, handles = [], {}
    for n, (snapshot, layout) in enumerate(zip(snapshots, layouts)):
        ax = figure.add_subplot(grid[n], sharex=axes[0] if axes else None)
        axes.append(ax)
        if layout is None:
            _empty(ax)
            continue
        for handle in _draw(ax, snapshot, layout, xmax_ms, False, kind_colors):
            handles.setdefault(handle.get_label(), handle)
        ax.set_title(_title(snapshot, titles[n], False), loc="left", fontsize=10,
                     fontweight="bold")
    axes[0].tick_params(labelbottom=False)  # the time axis is shared: label it once
    axes[-1].set_xlabel("time since each block started (ms)", fontsize=9)
    figure.legend(handles=list(handles.values()), loc="upper left",
                  bbox_to_anchor=(box[0], 1 - 0.05 / height), ncol=max(1, len(handles)),
                  frameon=False, fontsize=7.5, handlelength=1.4, columnspacing=1.2)
    return figure


class _Merged:
    """Just enough of a snapshot to pick the same kind colours in both timelines."""

    def __init__(self, snapshots):
        self.other = [span for s in snapshots for span in s.other]
