"""Checks of a drawn diagram as a learner sees it: no label covers another, no title, legend or
tick label runs into another panel, nothing is cut off at the figure's edge, no text is smaller
than 8 pt at 1x, a text written over a hatched bar has a light backing, and the diagram fits
a notebook's view (at most 800 px tall at 1x).

``problems(figure)`` draws the figure once (Agg, at its own dpi), records the extent of every
text actually drawn (clipped to its axes when it is clipped) and compares them. ``install()``
runs inside a notebook kernel: from then on every figure rendered to an image (whoever renders
it: asynclab, IPython's formatters, ``savefig``) is checked, and ``report()`` prints the results
as one marked JSON line.
"""

import io
import json
import sys
from pathlib import Path

MARK = "__asynclab_diagrams__"
SLACK = 0.5  # pixels: text extents that only touch do not overlap
MIN_FONT = 8.0  # points: 11 px at 1x
LIGHT = 0.8  # mean of a backing's red, green and blue (0-1): light enough to read dark text on
MAX_HEIGHT_PX = 800  # at 1x (100 dpi): a notebook shows about 880 px


def _drawn_texts(figure):
    """(text artist, window extent) of every non-empty text drawing the figure draws."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.text import Text
    from matplotlib.transforms import Bbox

    drawn = []
    original_draw = Text.draw

    def recording_draw(self, renderer):
        original_draw(self, renderer)
        if not self.get_visible() or not self.get_text().strip():
            return
        extent = self.get_window_extent(renderer)
        clip = self.get_clip_box() if self.get_clip_on() else None
        if clip is not None:
            extent = Bbox.intersection(extent, clip)
            if extent is None:
                return  # clipped away entirely: not shown
        drawn.append((self, extent))

    canvas = figure.canvas
    Text.draw = recording_draw
    try:
        FigureCanvasAgg(figure).draw()
    finally:
        Text.draw = original_draw
        figure.set_canvas(canvas)
    return drawn


def _overlap(a, b):
    return min(a.x1, b.x1) - max(a.x0, b.x0) > SLACK and min(a.y1, b.y1) - max(a.y0, b.y0) > SLACK


def _grown(bbox, pixels):
    from matplotlib.transforms import Bbox

    return Bbox.from_extents(bbox.x0 - pixels, bbox.y0 - pixels, bbox.x1 + pixels, bbox.y1 + pixels)


def _inside(extent, bbox):
    return (
        extent.x0 >= bbox.x0 - SLACK
        and extent.x1 <= bbox.x1 + SLACK
        and extent.y0 >= bbox.y0 - SLACK
        and extent.y1 <= bbox.y1 + SLACK
    )


def _hatched_extents(figure):
    """(N, 4) array of x0, y0, x1, y1 window extents of the hatched bars (waiting bars)."""
    import numpy as np
    from matplotlib.collections import PolyCollection
    from matplotlib.path import Path

    boxes = []
    for ax in figure.axes:
        for collection in ax.collections:
            if isinstance(collection, PolyCollection) and collection.get_hatch():
                transform = collection.get_transform()
                for path in collection.get_paths():
                    points = transform.transform(path.vertices)
                    # One path may hold many bars, each starting with a MOVETO.
                    starts = [] if path.codes is None else np.flatnonzero(path.codes == Path.MOVETO)[1:]
                    for bar in np.split(points, starts):
                        boxes.append([*bar.min(axis=0), *bar.max(axis=0)])
    return np.array(boxes, dtype=float).reshape(-1, 4)


def _unbacked_over_hatching(drawn, hatched):
    """Texts that cross a hatched bar without a light box behind them."""
    found = []
    if not len(hatched):
        return found
    for text, extent in drawn:
        patch = text.get_bbox_patch()
        if patch is not None and patch.get_visible() and sum(patch.get_facecolor()[:3]) / 3 > LIGHT:
            continue
        across = (hatched[:, 2].clip(max=extent.x1) - hatched[:, 0].clip(min=extent.x0) > SLACK) & (
            hatched[:, 3].clip(max=extent.y1) - hatched[:, 1].clip(min=extent.y0) > SLACK
        )
        if across.any():
            found.append(text.get_text())
    return found


def problems(figure):
    """{"texts": how many, "overlaps": [[text, text], ...], "collisions": [[text, axes title],
    ...], "cut_off": [text, ...], "small": [[text, points], ...], "unbacked": [text, ...],
    "too_tall": [height px] or []} for one figure."""
    drawn = _drawn_texts(figure)
    overlaps = [
        [a.get_text(), b.get_text()] for n, (a, ea) in enumerate(drawn) for b, eb in drawn[n + 1 :] if _overlap(ea, eb)
    ]
    from matplotlib.text import Text

    ticks = 4 * figure.dpi / 72  # tick marks stick out of the axes by about this much
    owner = {id(text): ax for ax in figure.axes for text in ax.findobj(Text)}
    collisions = []
    for text, extent in drawn:
        for ax in figure.axes:
            if ax is owner.get(id(text)) or not ax.axison:
                continue  # a text may sit on its own axes (labels in bars)
            if _overlap(extent, _grown(ax.bbox, ticks)):
                collisions.append([text.get_text(), ax.get_title(loc="left") or "an axes"])
    cut_off = [text.get_text() for text, extent in drawn if not _inside(extent, figure.bbox)]
    small = [[text.get_text(), text.get_fontsize()] for text, _ in drawn if text.get_fontsize() < MIN_FONT - 1e-6]
    unbacked = _unbacked_over_hatching(drawn, _hatched_extents(figure))
    height = figure.get_size_inches()[1] * 100  # at 1x: asynclab shows its 2x PNGs at 100 dpi
    too_tall = [round(height)] if height > MAX_HEIGHT_PX else []
    return {
        "texts": len(drawn),
        "overlaps": overlaps,
        "collisions": collisions,
        "cut_off": cut_off,
        "small": small,
        "unbacked": unbacked,
        "too_tall": too_tall,
    }


def smallest_font(figure):
    """The smallest font size (points) of any text the figure draws."""
    return min(text.get_fontsize() for text, _ in _drawn_texts(figure))


def install():
    """Check every figure rendered from now on in this process (a notebook kernel)."""
    from matplotlib.backend_bases import FigureCanvasBase

    if hasattr(sys, "_asynclab_diagrams"):
        return
    results = sys._asynclab_diagrams = []
    print_figure = FigureCanvasBase.print_figure

    def checked_print_figure(self, filename, *args, **kwargs):
        out = print_figure(self, filename, *args, **kwargs)
        figure = self.figure
        found = problems(figure)
        found["size"] = [round(v) for v in figure.get_size_inches() * figure.dpi]
        found["dpi"] = kwargs.get("dpi") or figure.dpi
        if isinstance(filename, io.BytesIO):
            found["bytes"] = len(filename.getvalue())
        results.append(found)
        return out

    checked_print_figure.unchecked = print_figure
    FigureCanvasBase.print_figure = checked_print_figure


def report():
    print(MARK + json.dumps(getattr(sys, "_asynclab_diagrams", None)))


def uninstall():
    """Stop checking (the figures checked so far stay in the report)."""
    from matplotlib.backend_bases import FigureCanvasBase

    checked = FigureCanvasBase.print_figure
    FigureCanvasBase.print_figure = getattr(checked, "unchecked", checked)


def read_report(text):
    """The list of per-figure results that ``report()`` printed, or None."""
    for line in text.splitlines():
        if line.startswith(MARK):
            return json.loads(line[len(MARK) :])
    return None


# For a notebook run (nbharness.run_all_queued's first round, or run_fresh): install the check before
# the first cell; after the last, report, and stop checking (a second round draws the same diagrams).
_TESTS = str(Path(__file__).resolve().parent)
KERNEL_SETUP = (
    f"\nimport sys as _sys\n_sys.path.insert(0, {_TESTS!r})\nimport diagram_checks\n"
    f"_sys.path.remove({_TESTS!r})\ndiagram_checks.install()\n"
)
KERNEL_REPORT = "\ndiagram_checks.report()\ndiagram_checks.uninstall()\n"


def unreadable(found):
    """The problems of one checked figure, by kind; empty when it reads at a glance."""
    keys = ("overlaps", "collisions", "cut_off", "small", "unbacked", "too_tall")
    return {key: found[key] for key in keys if found.get(key)}


def assert_every_diagram_reads(report):
    figures = read_report(report.final_output)
    assert figures, "no diagram was checked: the check did not run in the kernel"
    bad = [dict(figure=n, size=f["size"], **unreadable(f)) for n, f in enumerate(figures) if unreadable(f)]
    pairs = sum(len(f["overlaps"]) for f in figures)
    assert not bad, (
        f"{len(bad)} of {len(figures)} diagrams have problems "
        f"({pairs} overlapping label pairs):\n" + json.dumps(bad, indent=1)[:6000]
    )
