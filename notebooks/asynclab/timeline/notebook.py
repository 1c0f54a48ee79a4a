"""Showing a timeline in a notebook cell, refreshed while the block runs.

The live picture is redrawn by a task on the event loop (created in a context where no
timeline is active, so no timeline records it). Drawing holds up the loop while it runs (about
0.1 s a frame), which would stretch whatever was running at that moment. So the first frame comes
only after a second: the short blocks of the lessons are never disturbed. After that the
refresher keeps itself to about a tenth of the loop's time, and each frame it drew is recorded on
a "live diagram" lane, so the final figure shows honestly when drawing held up the loop. Pass
``live=False`` for timings untouched by it. The final figure replaces the live one at the end.

Final diagrams are shown as ``diagram_bundle`` makes them: a 2x PNG displayed at its 1x size,
and the timeline's text account as the text (screen readers, and the reading edition's alt text).
"""

import asyncio
import base64
import contextvars
import sys
from time import perf_counter as _clock

from .capture import ACTIVE_TIMELINES

LIVE_AFTER = 1.0  # seconds before the first live frame: shorter blocks are never held up
REFRESH_SECONDS = 0.25  # then at most four frames a second...
REFRESH_BUDGET = 0.1  # ...and at most this share of the time spent drawing them
DRAWING_LANE = "live diagram"


def in_ipython():
    ipython = sys.modules.get("IPython")
    return ipython is not None and ipython.get_ipython() is not None


def in_jupyter_kernel():
    """True inside a Jupyter kernel (not in a terminal IPython, not in a plain script)."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    return getattr(shell, "kernel", None) is not None


def diagram_bundle(figure):
    """The display data and metadata of a finished diagram (a figure from plot()/compare()).

    ``image/png`` is drawn at twice the figure's dpi (base64, as Jupyter sends it) and its
    metadata gives the 1x ``width``/``height`` in pixels, so it shows at the usual size and
    stays sharp on 2x screens; ``text/plain`` is ``tl.describe()``'s account of the diagram.
    """
    from . import drawing

    png = drawing.png_bytes(figure, dpi=drawing.DPI * drawing.HIDPI_SCALE)
    width, height = figure.get_size_inches() * drawing.DPI
    text = getattr(figure, "description", None) or repr(figure)
    data = {"image/png": base64.b64encode(png).decode("ascii"), "text/plain": text}
    return data, {"image/png": {"width": round(width), "height": round(height)}}


def show_diagram(figure, handle=None):
    """Display a finished diagram (see ``diagram_bundle``), or replace what ``handle`` shows."""
    from IPython.display import display

    data, metadata = diagram_bundle(figure)
    if handle is None:
        display(data, raw=True, metadata=metadata)
    else:
        handle.update(data, raw=True, metadata=metadata)


class NotebookDisplay:
    def __init__(self, timeline, live):
        self.timeline = timeline
        self.live = live
        self._handle = None
        self._refresher = None

    def open(self):
        """Show a first frame (live mode); also loads matplotlib before the clock starts."""
        from . import drawing

        if self.live:
            from IPython.display import display

            self._handle = display(self._frame(drawing.waiting_figure(self.timeline.title)), display_id=True)

    @staticmethod
    def _frame(figure):
        from IPython.display import Image

        from . import drawing

        return Image(data=drawing.png_bytes(figure, dpi=drawing.LIVE_DPI), format="png")

    def start_live(self, loop):
        context = contextvars.copy_context()
        context.run(ACTIVE_TIMELINES.set, ())  # so that no timeline records the refresher
        self._refresher = loop.create_task(self._refresh(), context=context)

    async def _refresh(self):
        from . import drawing

        delay = LIVE_AFTER
        while True:
            await asyncio.sleep(delay)
            began = _clock()
            figure = drawing.plot(self.timeline._snapshot(), live=True)
            self._handle.update(self._frame(figure))
            figure.clear()
            ended = _clock()
            self.timeline.add_spans(
                [{"label": "drawing", "start": began, "end": ended}], lane=DRAWING_LANE, kind="drawing"
            )
            delay = max(REFRESH_SECONDS, (ended - began) / REFRESH_BUDGET)

    async def close(self):
        """Stop refreshing and show the final figure."""
        refresher, self._refresher = self._refresher, None
        if refresher is not None:
            refresher.cancel()
            await asyncio.wait([refresher])  # returns even though it was cancelled
            if not refresher.cancelled() and refresher.exception() is not None:
                raise refresher.exception()  # a drawing error: show it rather than lose it
        show_diagram(self.timeline.plot(), self._handle)
