"""Drawing a timeline with matplotlib: one lane (row) per task, time in ms across.

Figures are made with ``matplotlib.figure.Figure`` directly, not pyplot, so they never pile up
in pyplot's list of open figures. All bars of one kind go into a single collection: one artist
per bar would take many seconds for tens of thousands of steps.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, overload

import matplotlib
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import PolyCollection
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.path import Path
from matplotlib.transforms import ScaledTranslation
from PIL import Image

if TYPE_CHECKING:
    from matplotlib.artist import Artist
    from matplotlib.axes import Axes
    from matplotlib.figure import SubFigure
    from matplotlib.legend import Legend

    from .layout import Grouping
    from .model import ResourceTrack, Snapshot, Span

from .layout import BLOCKED_ROW, PHASE_ROW_HEIGHT, ROW_HEIGHT, SPAN_ROW, TREE_STEP, Layout, figure_size, place_axes

DPI = 100
HIDPI_SCALE = 2  # notebooks get PNGs at twice the pixels, shown at the 1x size: sharp on 2x screens
LIVE_DPI = 60
LANE_LABEL = "lane label"  # the gid of each lane's name, left of the axes
MOST_LANE_LABELS = 40  # more lanes than this: label only some of them
MAX_TEXT_LABELS = 80  # labels written inside bars, widest bars first
HATCH_LIMIT = 5000  # hatching many thousands of bars is slow and unreadable anyway
DEFAULT_COMPRESSION = 6  # PNG compression level (PIL's default)...
FAST_COMPRESSION = 1  # ...and for diagrams of many bars: a third quicker to encode, a sixth larger
MANY_BARS = 2000
MAX_FIGURE_HEIGHT = 7.9  # inches (790 px at 1x): title, lanes and time axis fit a notebook's view
MAX_LANE_LABEL = 38  # characters: what fits the widest left margin (layout.figure_size)
MIN_LABEL_CHARS = 4  # a label shortened to fewer characters than this is left out
ELLIPSIS = "\u2026"

# Okabe & Ito's colour-blind safe palette (without its black and yellow, which make poor
# bars): distinguishable under protanopia, deuteranopia and tritanopia.
PALETTE = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#56B4E9", "#CC79A7"]
# Colour says what a bar *means*, never which task it is (the lane says that): steps are
# one dark grey, waits a light hatched grey, phases and the blocked loop have colours of their own.
RUNNING_COLOR = "#4D4D4D"
KIND_COLORS = {
    "phase": "#CC79A7",
    "server": "#56B4E9",
    "setup": "#E69F00",
    "cleanup": "#0072B2",
    "iteration": "#009E73",
}
EXTRA_KIND_COLORS = ["#8C6D31", "#7F7F7F", "#393B79", "#637939", "#843C39"]
WAITING_TINT = 0.72  # waiting bars: the running colour this much lighter, and hatched
BLOCKED_COLOR = "#D62728"  # the loop blocked: a red band across every lane
OUTCOME_STYLE = {  # marker, colour, legend text
    "result": ("o", "#222222", "done"),
    "cancelled": ("s", "#0072B2", "cancelled"),
    "exception": ("X", "#B2182B", "failed"),
}
MARK_COLOR = "#7B3294"
FONT = 8.0  # points: the smallest text of a diagram (11 px at 1x)
LABEL_BACKING = {"facecolor": "white", "alpha": 0.8, "edgecolor": "none", "pad": 0.6}
NOTHING_RECORDED = (
    "Nothing recorded yet.\nPut the work inside  `async with Timeline() as tl:`  and plot after the block."
)


class TimelineFigure(Figure):
    """A matplotlib Figure that shows itself in notebooks, with or without pyplot: a 2x PNG
    shown at its 1x size, with the timeline's text account (``describe()``) as its text."""

    described: tuple[tuple[Snapshot, str | None], ...] = ()  # (snapshot, title) of each timeline drawn
    many_bars = False  # more than MANY_BARS: encoded for speed rather than size

    @property
    def description(self) -> str:
        from .analysis import describe

        return "\n\n".join(describe(snapshot, title) for snapshot, title in self.described) or "An empty timeline."

    def _repr_png_(self) -> bytes:
        return png_bytes(self, dpi=DPI * HIDPI_SCALE)

    def _repr_mimebundle_(
        self, include: object = None, exclude: object = None
    ) -> tuple[dict[str, str], dict[str, Any]]:
        return diagram_bundle(self)


def diagram_bundle(figure: Figure) -> tuple[dict[str, str], dict[str, Any]]:
    """The display data and metadata of a finished diagram (a figure from plot()/compare()).

    ``image/png`` is drawn at twice the figure's dpi (base64, as Jupyter sends it) and its
    metadata gives the 1x ``width``/``height`` in pixels, so it shows at the usual size and
    stays sharp on 2x screens; ``text/plain`` is ``tl.describe()``'s account of the diagram.
    """
    png = png_bytes(figure, dpi=DPI * HIDPI_SCALE)
    width, height = figure.get_size_inches() * DPI
    text = getattr(figure, "description", None) or repr(figure)
    data = {"image/png": base64.b64encode(png).decode("ascii"), "text/plain": text}
    return data, {"image/png": {"width": round(width), "height": round(height)}}


def png_bytes(figure: Figure, dpi: float | None = None) -> bytes:
    """The figure as an RGB PNG: every diagram is opaque, and three channels take a quarter less
    time to compress than matplotlib's RGBA, into a smaller file."""
    dpi = dpi or figure.dpi
    many_bars = getattr(figure, "many_bars", False)
    level = FAST_COMPRESSION if many_bars else DEFAULT_COMPRESSION
    width, height = figure.get_size_inches() * dpi
    size = int(width), int(height)  # the pixels Agg draws at that dpi (it truncates the same way)
    # At twice the pixels, hinting (snapping glyphs to the pixel grid) no longer shows, and
    # skipping it saves a tenth of the time a diagram of many bars takes. A smaller diagram keeps
    # it: its PNG is a twelfth smaller with it (the reading edition carries dozens).
    hinting = "no_hinting" if many_bars and dpi >= DPI * HIDPI_SCALE else matplotlib.rcParams["text.hinting"]
    raw, png = io.BytesIO(), io.BytesIO()
    with matplotlib.rc_context({"text.hinting": hinting}):
        figure.savefig(raw, format="rgba", dpi=dpi, facecolor="white")
        pixels = raw.getvalue()
        if len(pixels) == size[0] * size[1] * 4:
            image = Image.frombuffer("RGBA", size, pixels, "raw", "RGBA", 0, 1)
            image.convert("RGB").save(png, format="png", compress_level=level)
        else:  # not the size expected: matplotlib's own PNG
            figure.savefig(png, format="png", dpi=dpi, facecolor="white", pil_kwargs={"compress_level": level})
    return png.getvalue()


def _new_figure(width: float, height: float, dpi: float = DPI) -> TimelineFigure:
    figure = TimelineFigure(figsize=(width, height), dpi=dpi, facecolor="white")
    FigureCanvasAgg(figure)  # a renderer to measure labels with
    figure.patch.set_alpha(1.0)  # opaque: readable on a dark notebook theme too
    return figure


def waiting_figure(title: str | None) -> TimelineFigure:
    """The first live frame, before anything happened."""
    figure = _new_figure(8, 1.2, dpi=LIVE_DPI)
    ax = figure.add_axes((0, 0, 1, 1))
    ax.set_axis_off()
    ax.text(
        0.5, 0.5, f"{title + ': ' if title else ''}recording...", ha="center", va="center", fontsize=12, color="#555555"
    )
    return figure


# -- drawing ------------------------------------------------------------------------------


def _boxes(x0: Any, x1: Any, y0: Any, y1: Any) -> Any:
    """(N, 4, 2) rectangle corners for a PolyCollection."""
    return np.stack(
        [np.stack([x0, y0], -1), np.stack([x1, y0], -1), np.stack([x1, y1], -1), np.stack([x0, y1], -1)], axis=1
    )


_BAR_CODES = np.array([Path.MOVETO, Path.LINETO, Path.LINETO, Path.LINETO, Path.CLOSEPOLY], dtype=Path.code_type)


def _bars(x0: Any, x1: Any, y0: Any, y1: Any, color: Any, **style: Any) -> PolyCollection:
    """Bars of one colour as one path of many rectangles. A collection of polygons makes,
    transforms and draws a path for each: a diagram of 100,000 bars took twice as long."""
    corners = _boxes(x0, x1, y0, y1)
    vertices = np.concatenate([corners, corners[:, :1]], axis=1).reshape(-1, 2)  # each closed
    # Snapped to the pixel grid as matplotlib snaps a lone rectangle (not a path this long).
    bars = PolyCollection([], facecolors=[color], snap=True, **style)
    codes: Any = [np.tile(_BAR_CODES, len(corners))]  # an array per path (matplotlib's stub says int)
    bars.set_verts_and_codes([vertices], codes)
    return bars


def lighter(colors: np.ndarray, amount: float) -> np.ndarray:
    return colors + (1.0 - colors) * amount


def _waiting_color() -> tuple[float, float, float]:
    """The waiting bars' fill, and their swatch in the legend."""
    red, green, blue = lighter(np.array(_rgb(RUNNING_COLOR)), WAITING_TINT)
    return float(red), float(green), float(blue)


def _px_per_ms(ax: Axes) -> float:
    left, right = ax.get_xlim()
    return ax.get_window_extent().width / max(right - left, 1e-9)


def _row_px(ax: Axes) -> float:
    """Pixels per row unit of the axes (rows get thin when a diagram has many lanes)."""
    bottom, top = ax.get_ylim()
    return ax.get_window_extent().height / max(abs(bottom - top), 1e-9)


# Row units between a phase label's centre and the wait label below it (layout.py), and the
# pixels two lines of text need: closer than that, the wait labels are left out.
_LABEL_GAP_UNITS = 0.42
_TEXT_PX = FONT * DPI / 72 * 1.15


def _text_width_px(figure: Figure | SubFigure, text: str, fontsize: float, weight: str = "normal") -> float:
    renderer = getattr(figure.canvas, "get_renderer", None)
    if renderer is None:  # someone else's figure and canvas: estimate
        return len(text) * fontsize * 0.68 * figure.dpi / 72
    font = FontProperties(size=fontsize, weight=weight)
    width, _, _ = renderer().get_text_width_height_descent(text, font, ismath=False)
    return width


def _fitted_labels(
    ax: Axes, widths_ms: np.ndarray, labels: Sequence[str], xmax_ms: float, fontsize: float
) -> list[tuple[int, str]]:
    """(index, text) of the labels to write inside their bars, widest bars first: a label
    too long for its bar is shortened with an ellipsis, or left out if too little would be
    left; it never runs into a neighbour."""
    if not len(labels):
        return []
    px_per_ms = _px_per_ms(ax)
    room = widths_ms * px_per_ms - 4  # a little air on either side
    char_px = fontsize * 0.45 * ax.figure.dpi / 72  # narrower than most characters
    candidates = np.nonzero(room >= MIN_LABEL_CHARS * char_px)[0]
    candidates = candidates[np.argsort(-widths_ms[candidates], kind="stable")]
    fitted: list[tuple[int, str]] = []
    widths: dict[str, float] = {}  # many bars share a label ("sleep"): measure each text once

    def width_of(text: str) -> float:
        if text not in widths:
            widths[text] = _text_width_px(ax.figure, text, fontsize)
        return widths[text]

    for i in map(int, candidates):
        text: str | None = labels[i]
        if not text:
            continue
        while text is not None and width_of(text) > room[i]:
            keep = len(text.rstrip(ELLIPSIS)) - 1
            if keep < MIN_LABEL_CHARS:
                text = None
                break
            text = labels[i][:keep].rstrip() + ELLIPSIS
        if text is not None:
            fitted.append((i, text))
            if len(fitted) == MAX_TEXT_LABELS:
                break
    return fitted


def _draw_steps(ax: Axes, snapshot: Snapshot, layout: Layout, xmax_ms: float, live: bool) -> None:
    min_width = 0.8 / max(_px_per_ms(ax), 1e-9)  # short steps stay visible
    lanes, starts, ends = (np.asarray(a) for a in snapshot.running)
    if len(lanes):
        rows = layout.step_y[lanes]
        x0 = starts * 1000
        x1 = np.maximum(ends * 1000, x0 + min_width)
        ax.add_collection(
            _bars(
                x0,
                x1,
                rows - layout.running_half,
                rows + layout.running_half,
                RUNNING_COLOR,
                edgecolors="none",
                linewidths=0,
                antialiaseds=len(lanes) < 2000,
                zorder=3,
            ),
            autolim=False,  # _draw sets the limits: no extents to compute
        )
    wait_lanes, wait_starts, wait_ends, labels = snapshot.waiting
    lanes, starts, ends = np.asarray(wait_lanes, dtype=int), np.asarray(wait_starts), np.asarray(wait_ends)
    if len(lanes):
        rows = layout.step_y[lanes]
        waiting = _bars(
            starts * 1000,
            ends * 1000,
            rows - layout.waiting_half,
            rows + layout.waiting_half,
            _waiting_color(),
            edgecolors="none",
            linewidths=0,
            antialiaseds=len(lanes) < 2000,
            zorder=2,
        )
        if len(lanes) <= HATCH_LIMIT:
            waiting.set_hatch("////")
            waiting.set_hatchcolor("#808080")
            waiting.set_hatch_linewidth(0.5)
        ax.add_collection(waiting, autolim=False)
        if not live:
            widths = (ends - starts) * 1000
            shown = _wait_labels(ax, snapshot, layout, lanes, starts, ends, labels)
            names = snapshot.lane_names
            for i, awaited in snapshot.awaited_in_wait.items():  # which lanes a parent waits on
                if shown[i]:
                    shown[i] += " \u2192 " + _some_names([names[lane] for lane in awaited])
            for i, text in _fitted_labels(ax, widths, shown, xmax_ms, FONT):
                _in_bar_label(ax, (starts[i] + ends[i]) * 500, rows[i], text, zorder=4, bbox=LABEL_BACKING)


TREE_COLOR = "#8A8A8A"
TRACK_COLOR = "#5B7083"  # resource tracks: a slate of their own, apart from the kind colours


def _draw_tree(ax: Axes, snapshot: Snapshot, layout: Layout) -> None:
    """The task tree, left of the axes between the lane labels and the lanes: a line down
    from each parent to its last child, and one across to each child."""
    if not layout.tree_depth:
        return
    points_to_axes = ax.figure.dpi / 72 / max(ax.get_window_extent().width, 1.0)
    gap = layout.tree_gap

    def x_at(depth: int) -> float:  # the vertical line of the parents at this depth (points left of the axes)
        return -(gap - 2.0 - TREE_STEP * depth) * points_to_axes

    y = layout.center
    segments = []
    last_child = {}
    for index in layout.order:
        parent = snapshot.lanes[index].parent
        if parent is not None:
            last_child[parent] = index
            segments.append([(x_at(snapshot.lanes[parent].depth), y[index]), (-1.0 * points_to_axes, y[index])])
    for parent, child in last_child.items():
        x = x_at(snapshot.lanes[parent].depth)
        segments.append([(x, y[parent]), (x, y[child])])
        if snapshot.lanes[parent].parent is None:
            segments.append([(x - 2.0 * points_to_axes, y[parent]), (x, y[parent])])
    # One line broken by NaNs: a thousand children draw as fast as four.
    xs = [x for (a, _), (b, _) in segments for x in (a, b, np.nan)]
    ys = [y for (_, a), (_, b) in segments for y in (a, b, np.nan)]
    ax.plot(
        xs,
        ys,
        color=TREE_COLOR,
        linewidth=1.0,
        transform=ax.get_yaxis_transform(),
        clip_on=False,
        scalex=False,
        scaley=False,
        gid="task tree",
    )


MAX_NAMED = 3  # lanes a parent's wait label names; the rest are counted


def _some_names(names: list[str]) -> str:
    if len(names) <= MAX_NAMED + 1:  # "+1 more" would take the room of the name
        return ", ".join(names)
    return ", ".join(names[:MAX_NAMED]) + f" +{len(names) - MAX_NAMED} more"


def _track_label(track: ResourceTrack) -> str:
    """A track's axis label: a queue's also says how long it got."""
    if track.kind == "queue":
        return f"{track.label} (peak {track.peak})"
    return track.label


def _draw_tracks(ax: Axes, snapshot: Snapshot, layout: Layout, xmax_ms: float, live: bool) -> None:
    """Each resource track: who holds a lock or a permit (a bar per holder, named when there
    is room), or how long a queue was and when an event was set (a step area)."""
    from matplotlib.colors import to_rgba

    if not snapshot.tracks:
        return
    ax.axhline(layout.track_top[0], color="#BBBBBB", linewidth=0.8, zorder=1)
    x0, x1, y0, y1, labels = [], [], [], [], []
    row_px = _row_px(ax)
    for track, top, height in zip(snapshot.tracks, layout.track_top, layout.track_height):
        inner_top, inner = top + 0.12, height - 0.24
        times = np.array([*track.times, snapshot.duration]) * 1000
        levels = np.array(track.levels + track.levels[-1:], dtype=float)
        # Thousands of holds: the level alone, as for a queue (a bar each would be slow and unreadable).
        if track.kind in ("lock", "condition", "semaphore") and 0 < len(track.holders) <= MANY_BARS:
            slots = max(1, min(track.capacity or track.peak or 1, 3))
            slot_h = inner / slots
            ends = [0.0] * slots  # when each slot is free again
            for lane, start, stop in track.holders:
                free = [n for n in range(slots) if ends[n] <= start + 1e-9]
                slot = free[0] if free else min(range(slots), key=lambda n: ends[n])
                ends[slot] = stop
                x0.append(start * 1000)
                x1.append(max(stop * 1000, start * 1000 + xmax_ms / 800))
                y0.append(inner_top + slot * slot_h + 0.03)
                y1.append(inner_top + (slot + 1) * slot_h - 0.03)
                labels.append(snapshot.lanes[lane].name if row_px * (slot_h - 0.06) >= _TEXT_PX * 0.9 else "")
        else:
            scale = max(track.capacity or 0, track.peak, 1)
            bottom = inner_top + inner
            ax.fill_between(
                times,
                bottom - levels / scale * inner,
                bottom,
                step="post",
                color=to_rgba(TRACK_COLOR, 0.35),
                edgecolor=TRACK_COLOR,
                linewidth=0.8,
                zorder=3,
            )
    if x0:
        x0a, x1a = np.array(x0), np.array(x1)
        ax.add_collection(
            PolyCollection(
                _boxes(x0a, x1a, np.array(y0), np.array(y1)),
                facecolors=to_rgba(TRACK_COLOR, 0.3),
                edgecolors=TRACK_COLOR,
                linewidths=0.8,
                zorder=3,
            ),
            autolim=False,  # _draw sets the limits: no extents to compute
        )
        if not live:
            for i, text in _fitted_labels(ax, x1a - x0a, labels, xmax_ms, FONT):
                _in_bar_label(ax, (x0a[i] + x1a[i]) / 2, (y0[i] + y1[i]) / 2, text, zorder=4)


def _what_of(label: str) -> str:
    from .phases import split

    return split(label)[1]


def _wait_labels(
    ax: Axes,
    snapshot: Snapshot,
    layout: Layout,
    lanes: np.ndarray,
    starts: np.ndarray,
    ends: np.ndarray,
    labels: Sequence[str],
) -> list[str]:
    """The text of each wait's label ("" for none): what it awaits (its phase is on the band
    above). In rows too thin for a label below a phase label, only waits under no band of
    their lane are labelled; in thinner rows still, none."""
    row_px = _row_px(ax)
    if not layout.has_phases or row_px * _LABEL_GAP_UNITS >= _TEXT_PX:
        return [_what_of(label) for label in labels] if row_px >= _TEXT_PX else [""] * len(labels)
    if row_px * (1 - _LABEL_GAP_UNITS) < _TEXT_PX:  # too close to the next lane's phase labels
        return [""] * len(labels)
    index = {lane.name: i for i, lane in enumerate(snapshot.lanes)}
    bands: dict[int, list[tuple[float, float]]] = {}
    for span in snapshot.other:
        bands.setdefault(index[span.lane], []).append((span.start, span.end))
    return [
        "" if any(a < end and start < b for a, b in bands.get(lane, ())) else _what_of(label)
        for lane, start, end, label in zip(lanes, starts, ends, labels)
    ]


def _kind_colors(snapshot: Snapshot | _Merged) -> dict[str, str]:
    colors = dict(KIND_COLORS)
    extra = iter(EXTRA_KIND_COLORS * 10)
    for span in snapshot.other:
        if span.kind not in colors:
            colors[span.kind] = next(extra)
    return colors


def _draw_other_spans(
    ax: Axes, snapshot: Snapshot, layout: Layout, xmax_ms: float, kind_colors: dict[str, str], live: bool
) -> None:
    """Phases (on task lanes, along the top of the row) and lanes of spans only, each
    overlapping span on a sub-row of its own."""
    from matplotlib.colors import to_rgba

    spans = snapshot.other
    if not spans:
        return
    index = {lane.name: i for i, lane in enumerate(snapshot.lanes)}
    x0, x1, y0, y1, faces, edges, labels, centers = [], [], [], [], [], [], [], []
    for span, level in zip(spans, layout.levels):
        lane = index[span.lane]
        if layout.task_lane[lane]:  # phases of a task: along the top of its row
            sub_row = layout.phase_row[lane]
            top = layout.phase_top[lane] + sub_row * level
        else:  # a lane of its own: sub-rows fill the lane
            sub_row = (layout.height[lane] - 0.28) / layout.depth[lane]
            top = layout.top[lane] + 0.14 + sub_row * level
        bottom = top + sub_row * 0.88
        color = kind_colors[span.kind]
        x0.append(span.start * 1000)
        x1.append(max(span.end * 1000, span.start * 1000 + xmax_ms / 800))
        y0.append(top)
        y1.append(bottom)
        faces.append(to_rgba(color, 0.28))
        edges.append(to_rgba(color, 0.9))
        labels.append(_phase_label(ax, span, x1[-1] - x0[-1]))
        centers.append((top + bottom) / 2)
    left, right = np.array(x0), np.array(x1)
    ax.add_collection(
        PolyCollection(
            _boxes(left, right, np.array(y0), np.array(y1)),
            facecolors=faces,
            edgecolors=edges,
            linewidths=0.6,
            zorder=5,
        ),
        autolim=False,  # _draw sets the limits: no extents to compute
    )
    if not live:
        # A label needs its sub-row (or, on one level, its lane) to be as tall as the text.
        row_px = _row_px(ax)
        for n, span in enumerate(spans):
            lane = index[span.lane]
            if layout.depth[lane] > 1:
                units = layout.phase_row[lane] if layout.task_lane[lane] else SPAN_ROW
            else:
                units = 1.0
            if row_px * units < _TEXT_PX:
                labels[n] = ""
        for i, text in _fitted_labels(ax, right - left, labels, xmax_ms, FONT):
            # the band's own tint behind it: in thin rows the label may reach over the hatched waits
            backing = {**LABEL_BACKING, "facecolor": _over_white(faces[i]), "alpha": 1.0}
            _in_bar_label(ax, (left[i] + right[i]) / 2, centers[i], text, zorder=6, bbox=backing)


def _in_bar_label(ax: Axes, x: float, y: float, text: str, *, zorder: float, bbox: dict | None = None) -> None:
    """A label centred on a bar, in the diagram's smallest text, cut at the axes' edge."""
    ax.text(
        x, y, text, ha="center", va="center", fontsize=FONT, color="#222222", zorder=zorder, clip_on=True, bbox=bbox
    )


def _over_white(rgba: tuple[float, float, float, float]) -> tuple[float, float, float]:
    """The colour a translucent face shows on white."""
    r, g, b, a = rgba
    return (1 - a + r * a, 1 - a + g * a, 1 - a + b * a)


def _phase_label(ax: Axes, span: Span, width_ms: float) -> str:
    """A phase read from the await chain, shortened to its last part when the band is too
    narrow for all of it: "AsyncResource.__aenter__" -> "__aenter__", "pool: setup" -> "setup"."""
    from .phases import PHASE_KINDS, short

    text = span.label
    if span.kind not in PHASE_KINDS:
        return text
    if _text_width_px(ax.figure, text, FONT) + 4 <= width_ms * _px_per_ms(ax):
        return text
    return short(text)


def _draw_mark_labels(ax: Axes, xs: np.ndarray, rows: np.ndarray, labels: Sequence[str]) -> None:
    """Mark labels above their lane, left out where one would cover another."""
    late = 0.75 * ax.get_xlim()[1]  # near the right edge: write the label leftwards
    px_per_ms = _px_per_ms(ax)
    taken: dict[float, list[tuple[float, float]]] = {}  # row -> [(left, right) in ms]
    renderer = getattr(ax.figure.canvas, "get_renderer", None)
    written = [t.get_window_extent(renderer()) for t in ax.texts] if renderer is not None else []
    for x, y, label in list(zip(xs, rows, labels))[:MAX_TEXT_LABELS]:
        text = f" {label} "
        width = _text_width_px(ax.figure, text, FONT) / px_per_ms
        left, right = (x - width, x) if x > late else (x, x + width)
        if any(left < end and start < right for start, end in taken.get(y, [])):
            continue
        artist = ax.text(
            x,
            y - 0.05,
            text,
            fontsize=FONT,
            color=MARK_COLOR,
            va="bottom",
            ha="right" if x > late else "left",
            zorder=8,
            clip_on=True,
        )
        if written and renderer is not None:  # a phase or wait label is there already (a phase band)
            extent = artist.get_window_extent(renderer())
            if any(extent.overlaps(other) for other in written):
                artist.remove()
                continue
        taken.setdefault(y, []).append((left, right))


def _draw_markers(ax: Axes, snapshot: Snapshot, layout: Layout, live: bool) -> None:
    if snapshot.created:
        lanes, times = zip(*snapshot.created)
        ax.scatter(
            np.array(times) * 1000,
            layout.step_y[list(lanes)],
            marker="|",
            s=60,
            color="#444444",
            linewidths=1.0,
            zorder=6,
        )
    for outcome, (marker, color, _text) in OUTCOME_STYLE.items():
        points = [(lane, when) for lane, when, o in snapshot.outcomes if o == outcome]
        if not points:
            continue
        lanes, times = zip(*points)
        ax.scatter(
            np.array(times) * 1000,
            layout.step_y[list(lanes)],
            **_outcome_marker(outcome, marker, color),
            zorder=7,
        )
    if snapshot.marks:
        lanes, times, labels = zip(*snapshot.marks)
        rows = layout.top[list(lanes)] + 0.12
        xs = np.array(times) * 1000
        ax.scatter(xs, rows, marker="v", s=28, color=MARK_COLOR, zorder=8)
        if not live:
            _draw_mark_labels(ax, xs, rows, labels)


def _outcome_marker(outcome: str, marker: str, color: str) -> dict[str, Any]:
    """Scatter style of an outcome: a small dot when done; a large red cross when failed, a
    large hollow blue square when cancelled (apart in shape and in colour)."""
    if outcome == "result":
        return {"marker": marker, "s": 24, "color": color, "linewidths": 0}
    if outcome == "cancelled":
        return {"marker": marker, "s": 64, "facecolors": "white", "edgecolors": color, "linewidths": 2.0}
    return {"marker": marker, "s": 90, "color": color, "edgecolors": "white", "linewidths": 0.8}


def _draw_blocked(ax: Axes, snapshot: Snapshot, y_label: float, live: bool) -> None:
    """A red band across every lane for each step that blocked the loop, its label above
    the top lane (left out where it would cover another)."""
    if not snapshot.blocked:
        return
    for start, end, _ in snapshot.blocked:
        ax.axvspan(start * 1000, end * 1000, color=BLOCKED_COLOR, alpha=0.16, linewidth=0, zorder=1)
        for x in (start * 1000, end * 1000):
            ax.axvline(x, color=BLOCKED_COLOR, linewidth=0.8, alpha=0.6, zorder=1)
    if live:
        return
    xmax = ax.get_xlim()[1]
    px_per_ms = _px_per_ms(ax)
    room_ms = xmax
    taken: list[tuple[float, float]] = []
    for start, _end, text in sorted(snapshot.blocked, key=lambda b: b[0] - b[1])[:MAX_TEXT_LABELS]:
        width = (_text_width_px(ax.figure, text, FONT, "bold") + 10) / px_per_ms
        while width > room_ms and len(text) > MIN_LABEL_CHARS + 1:
            text = _shortened(text, len(text) - 4)
            width = (_text_width_px(ax.figure, text, FONT, "bold") + 10) / px_per_ms
        left = max(0.0, min(start * 1000, xmax - width))  # from the band's start, inside the axes
        right = left + width
        if any(left < b and a < right for a, b in taken):
            continue
        taken.append((left, right))
        ax.text(
            left + 3 / px_per_ms,
            y_label,
            text,
            ha="left",
            va="center",
            fontsize=FONT,
            color=BLOCKED_COLOR,
            fontweight="bold",
            zorder=9,
            clip_on=True,
            bbox=LABEL_BACKING,
        )


def _legend_handles(snapshot: Snapshot, kind_colors: dict[str, str]) -> list[Artist]:
    """The legend entries for what a timeline's diagram shows."""
    handles: list[Artist] = [
        Patch(facecolor=RUNNING_COLOR, label="running"),
        Patch(
            facecolor=_waiting_color(),
            hatch="////",
            edgecolor="#808080",
            linewidth=0,
            label="waiting",
        ),
    ]
    for kind in sorted({span.kind for span in snapshot.other}):
        handles.append(Patch(facecolor=kind_colors[kind], alpha=0.4, edgecolor=kind_colors[kind], label=kind))
    if snapshot.blocked:
        handles.append(Patch(facecolor=BLOCKED_COLOR, alpha=0.3, edgecolor=BLOCKED_COLOR, label="loop blocked"))
    if getattr(snapshot, "tracks", None):
        handles.append(Patch(facecolor=TRACK_COLOR, alpha=0.3, edgecolor=TRACK_COLOR, label="held / in use"))
    if snapshot.created:
        handles.append(Line2D([], [], marker="|", color="#444444", linestyle="none", markersize=8, label="created"))
    outcomes = {outcome for _, _, outcome in snapshot.outcomes}
    for outcome, (marker, color, text) in OUTCOME_STYLE.items():
        if outcome in outcomes:
            face = "white" if outcome == "cancelled" else color
            handles.append(
                Line2D(
                    [],
                    [],
                    marker=marker,
                    color=color,
                    markerfacecolor=face,
                    markeredgewidth=1.6 if outcome == "cancelled" else 0.5,
                    linestyle="none",
                    markersize=8,
                    label=text,
                )
            )
    if snapshot.marks:
        handles.append(Line2D([], [], marker="v", color=MARK_COLOR, linestyle="none", markersize=7, label="mark"))
    return handles


def _draw(
    ax: Axes, snapshot: Snapshot, layout: Layout, xmax_ms: float, live: bool, kind_colors: dict[str, str]
) -> None:
    """Everything for one timeline on one axes (the legend is the figure's)."""
    ax.set_facecolor("white")
    # A little room left of t = 0, so that a task created at once shows its "created" tick.
    ax.set_xlim(-xmax_ms * X_PAD, xmax_ms)
    # Mark labels are written above their lane: leave room for them above the top row,
    # and above those for the labels of a blocked loop.
    top_marked = not live and any(layout.row_of[lane] == 0 for lane, _, _ in snapshot.marks)
    above = -0.45 if top_marked else 0
    blocked_y = above - BLOCKED_ROW / 2
    if snapshot.blocked and not live:
        above -= BLOCKED_ROW
    ax.set_ylim(layout.total_height, above)
    for spine in ("top", "right"):
        ax.spines[spine].set_visible(False)
    ax.grid(axis="x", color="#e6e6e6", linewidth=0.8, zorder=0)
    ax.set_axisbelow(True)
    labels = [_shortened(snapshot.lanes[i].axis_label, MAX_LANE_LABEL) for i in layout.order]
    rows = list(range(layout.rows))
    most = min(MOST_LANE_LABELS, max(1, int(ax.get_window_extent().height / _TEXT_PX)))
    if len(rows) > most:
        step = -(-len(rows) // most)
        rows = rows[::step]
    # Texts where tick labels would be: a tick is five artists made by copying the first one,
    # which took a tenth to a fifth of the time a diagram takes to draw.
    ax.set_yticks([])
    points_left = ScaledTranslation(-(3.5 + layout.tree_gap) / 72, 0, ax.figure.dpi_scale_trans)
    beside = ax.get_yaxis_transform() + points_left
    for r in rows:
        y = layout.center[layout.order[r]]
        ax.text(0, y, labels[r], transform=beside, ha="right", va="center_baseline", fontsize=FONT, gid=LANE_LABEL)
    for track, top, height in zip(snapshot.tracks, layout.track_top, layout.track_height):
        # Written like a lane's label, but not one: these rows are not lanes.
        ax.annotate(
            _shortened(_track_label(track), MAX_LANE_LABEL),
            xy=(0, top + height / 2),
            xycoords=ax.get_yaxis_transform(),
            xytext=(-(3.5 + layout.tree_gap), 0),
            textcoords="offset points",
            ha="right",
            va="center",
            fontsize=FONT,
            color="#333333",
        )
    ax.tick_params(axis="x", labelsize=FONT)
    for n, (name, first, last) in enumerate(layout.groups):
        top, bottom = layout.row_extent(first, last)
        if n % 2 == 0:
            ax.axhspan(top, bottom, color="#f2f2f2", zorder=0, linewidth=0)
        if name is not None:
            ax.text(
                1.01,
                (top + bottom) / 2,
                str(name),
                transform=ax.get_yaxis_transform(),
                ha="left",
                va="center",
                fontsize=8,
                fontweight="bold",
                color="#555555",
            )
    _draw_blocked(ax, snapshot, blocked_y, live)
    _draw_tree(ax, snapshot, layout)
    _draw_tracks(ax, snapshot, layout, xmax_ms, live)
    _draw_steps(ax, snapshot, layout, xmax_ms, live)
    _draw_other_spans(ax, snapshot, layout, xmax_ms, kind_colors, live)
    _draw_markers(ax, snapshot, layout, live)


X_PAD = 0.012  # share of the time axis left of t = 0


def _shortened(text: str, length: int) -> str:
    return text if len(text) <= length else text[: length - 1].rstrip() + ELLIPSIS


def _rgb(color: str) -> tuple[float, float, float]:
    from matplotlib.colors import to_rgb

    return to_rgb(color)


def _title(snapshot: Snapshot, title: str | None, live: bool) -> str:
    text = title or snapshot.title or "Timeline"
    state = "recording... " if live else ""
    return f"{text}  ({state}{snapshot.duration * 1000:.1f} ms)"


def _empty(ax: Axes) -> None:
    ax.set_axis_off()
    ax.text(0.5, 0.5, NOTHING_RECORDED, ha="center", va="center", fontsize=11, color="#444444", transform=ax.transAxes)


LEGEND_FONT = FONT
LEGEND_ROW = 0.2  # inches per row of legend entries


def _legend_columns(handles: Sequence[Artist], width_in: float) -> tuple[int, int]:
    """Legend columns so that the legend fits the width given (inches); and its rows."""
    entries = [0.45 + len(str(h.get_label())) * LEGEND_FONT * 0.55 / 72 for h in handles]
    for columns in range(len(entries), 0, -1):
        rows = -(-len(entries) // columns)
        widest = [max(entries[c::columns]) for c in range(columns)]
        if sum(widest) <= width_in or columns == 1:
            return columns, rows
    return 1, len(entries)


def _legend(
    figure: Figure, handles: list[Artist], anchor: tuple[float, float], width_in: float, **where: Any
) -> Legend:
    columns, _ = _legend_columns(handles, width_in)
    return figure.legend(
        handles=handles,
        bbox_to_anchor=anchor,
        ncol=columns,
        frameon=False,
        fontsize=LEGEND_FONT,
        handlelength=1.4,
        columnspacing=1.2,
        borderaxespad=0.2,
        **where,
    )


@overload
def plot(snapshot: Snapshot, ax: None = None, group: Grouping | None = None, live: bool = False) -> TimelineFigure: ...
@overload
def plot(snapshot: Snapshot, ax: Axes, group: Grouping | None = None, live: bool = False) -> Figure | SubFigure: ...
def plot(
    snapshot: Snapshot, ax: Axes | None = None, group: Grouping | None = None, live: bool = False
) -> Figure | SubFigure:
    """The figure for one timeline (see Timeline.plot)."""
    if not snapshot.lanes:
        if ax is None:
            figure = _new_figure(8, 2)
            ax = figure.add_axes((0, 0, 1, 1))
        _empty(ax)
        return ax.figure
    layout = Layout(snapshot, group)
    xmax_ms = max(snapshot.duration * 1000, 1e-3) * 1.01
    if ax is not None:  # the caller's axes: draw, and leave the layout to them
        _draw(ax, snapshot, layout, xmax_ms, live, _kind_colors(snapshot))
        ax.set_xlabel("time since the block started (ms)", fontsize=9)
        ax.set_title(_title(snapshot, None, live), loc="left", fontsize=10, fontweight="bold")
        return ax.figure
    width, height, left, right, top, bottom = figure_size([layout], [snapshot], live)
    kind_colors = _kind_colors(snapshot)
    handles = _legend_handles(snapshot, kind_colors)
    _, legend_rows = _legend_columns(handles, width - left - right)
    top += LEGEND_ROW * (legend_rows - 1)
    height = min(height + LEGEND_ROW * (legend_rows - 1), MAX_FIGURE_HEIGHT)
    figure = _new_figure(width, height, dpi=LIVE_DPI if live else DPI)
    figure.described = ((snapshot, None),)
    figure.many_bars = len(snapshot.running[0]) + len(snapshot.waiting[0]) > MANY_BARS
    box = place_axes(left, right, top, bottom, width, height)
    ax = figure.add_axes(box)
    _draw(ax, snapshot, layout, xmax_ms, live, kind_colors)
    ax.set_xlabel("time since the block started (ms)", fontsize=9)
    _legend(figure, handles, (box[0], box[1] + box[3]), width - left - right, loc="lower left")
    figure.text(
        left / width,
        1 - 0.12 / height,
        _title(snapshot, None, live),
        ha="left",
        va="top",
        fontsize=11,
        fontweight="bold",
    )
    return figure


COMPARE_GAP = 0.55  # inches between the panels of compare(): the lower panel's title
PANEL_TITLE = 0.3  # inches above the top panel for its title


def compare(
    first: Snapshot, second: Snapshot, titles: tuple[str | None, str | None] | list[str | None] | None = None
) -> TimelineFigure:
    """Two timelines stacked on one time axis (see Timeline.compare)."""
    snapshots = [first, second]
    titles = list(titles) if titles is not None else [None, None]
    if len(titles) != 2:
        raise ValueError(f"compare(titles=...) needs two titles, got {titles!r}")
    layouts = [Layout(s, None) if s.lanes else None for s in snapshots]
    drawn = [(s, layout) for s, layout in zip(snapshots, layouts) if layout is not None]
    width, _, left, right, top, bottom = figure_size([layout for _, layout in drawn], [s for s, _ in drawn], False)
    row_height = PHASE_ROW_HEIGHT if any(layout.has_phases for _, layout in drawn) else ROW_HEIGHT
    panels = [
        max(0.8, row_height * (layout.total_height + (BLOCKED_ROW if s.blocked else 0))) if layout is not None else 0.8
        for s, layout in zip(snapshots, layouts)
    ]
    kind_colors = _kind_colors(_Merged(snapshots))
    handles: dict[str, Artist] = {}
    for snapshot in snapshots:
        for handle in _legend_handles(snapshot, kind_colors):
            handles.setdefault(str(handle.get_label()), handle)
    _, legend_rows = _legend_columns(list(handles.values()), width - left - right)
    fixed = 0.12 + LEGEND_ROW * legend_rows + PANEL_TITLE + COMPARE_GAP + bottom
    scale = min(1.0, (MAX_FIGURE_HEIGHT - fixed) / sum(panels))  # many lanes: thinner rows, as in plot()
    panels = [h * scale for h in panels]
    top = 0.12 + LEGEND_ROW * legend_rows + PANEL_TITLE
    height = top + sum(panels) + COMPARE_GAP + bottom
    figure = _new_figure(width, height)
    figure.described = tuple(zip(snapshots, titles))
    xmax_ms = max(max(s.duration for s in snapshots) * 1000, 1e-3) * 1.01
    axes: list[Axes] = []
    panel_top = height - top
    for n, (snapshot, layout) in enumerate(zip(snapshots, layouts)):
        box = place_axes(left, right, height - panel_top, panel_top - panels[n], width, height)
        panel_top -= panels[n] + COMPARE_GAP
        ax = figure.add_axes(box, sharex=axes[0] if axes else None)
        axes.append(ax)
        if layout is None:
            _empty(ax)
            continue
        _draw(ax, snapshot, layout, xmax_ms, False, kind_colors)
        ax.set_title(_title(snapshot, titles[n], False), loc="left", fontsize=10, fontweight="bold")
    axes[0].tick_params(labelbottom=False)  # the time axis is shared: label it once
    axes[-1].set_xlabel("time since each block started (ms)", fontsize=9)
    _legend(figure, list(handles.values()), (left / width, 1 - 0.08 / height), width - left - right, loc="upper left")
    return figure


class _Merged:
    """Just enough of a snapshot to pick the same kind colours in both timelines."""

    def __init__(self, snapshots: Sequence[Snapshot]) -> None:
        self.other = [span for s in snapshots for span in s.other]
