"""Showing a timeline in a notebook cell, refreshed while the block runs.

The live picture is redrawn by a task on the event loop (created in a context where no
timeline is active, so no timeline records it). Drawing holds up the loop while it runs (about
0.1 s a frame), which would stretch whatever was running at that moment. So the first frame comes
only after a second: the short blocks of the lessons are never disturbed. After that the
refresher keeps itself to about a tenth of the loop's time, and each frame it drew is recorded on
a "live diagram" lane, so the final figure shows honestly when drawing held up the loop. Pass
``live=False`` for timings untouched by it. The final figure replaces the live one at the end.

Final diagrams are shown as ``drawing.diagram_bundle`` makes them: a 2x PNG displayed at its 1x size,
and the timeline's text account as the text (screen readers, and the reading edition's alt text).
"""

from __future__ import annotations

import asyncio
import contextvars
from time import perf_counter as _clock
from typing import TYPE_CHECKING, Any

from .capture import ACTIVE_TIMELINES

if TYPE_CHECKING:
    from IPython.display import DisplayHandle, Image
    from matplotlib.figure import Figure

    from .recorder import Timeline

LIVE_AFTER = 1.0  # seconds before the first live frame: shorter blocks are never held up
REFRESH_SECONDS = 0.25  # then at most four frames a second...
REFRESH_BUDGET = 0.1  # ...and at most this share of the time spent drawing them
DRAWING_LANE = "live diagram"


def show_diagram(figure: Figure, handle: DisplayHandle | None = None) -> None:
    """Display a finished diagram (see ``drawing.diagram_bundle``), or replace what ``handle`` shows."""
    from IPython.display import display

    from .drawing import diagram_bundle

    data, metadata = diagram_bundle(figure)
    if handle is None:
        display(data, raw=True, metadata=metadata)
    else:
        handle.update(data, raw=True, metadata=metadata)


class NotebookDisplay:
    def __init__(self, timeline: Timeline, live: bool) -> None:
        self.timeline = timeline
        self.live = live
        self._handle: DisplayHandle | None = None
        self._refresher: asyncio.Task[Any] | None = None

    def open(self) -> None:
        """Show a first frame (live mode); also loads matplotlib before the clock starts."""
        from . import drawing

        if self.live:
            from IPython.display import display

            self._handle = display(self._frame(drawing.waiting_figure(self.timeline.title)), display_id=True)

    @staticmethod
    def _frame(figure: Figure) -> Image:
        from IPython.display import Image

        from . import drawing

        return Image(data=drawing.png_bytes(figure, dpi=drawing.LIVE_DPI), format="png")

    def start_live(self, loop: asyncio.AbstractEventLoop) -> None:
        context = contextvars.copy_context()
        context.run(ACTIVE_TIMELINES.set, ())  # so that no timeline records the refresher
        self._refresher = loop.create_task(self._refresh(), context=context)

    async def _refresh(self) -> None:
        from . import drawing

        handle = self._handle
        assert handle is not None  # open() showed the first frame
        delay = LIVE_AFTER
        while True:
            await asyncio.sleep(delay)
            began = _clock()
            figure = drawing.plot(self.timeline.snapshot(), live=True)
            handle.update(self._frame(figure))
            figure.clear()
            ended = _clock()
            self.timeline.add_spans(
                [{"label": "drawing", "start": began, "end": ended}], lane=DRAWING_LANE, kind="drawing"
            )
            delay = max(REFRESH_SECONDS, (ended - began) / REFRESH_BUDGET)

    async def close(self) -> None:
        """Stop refreshing and show the final figure."""
        refresher, self._refresher = self._refresher, None
        if refresher is not None:
            refresher.cancel()
            await asyncio.wait([refresher])  # returns even though it was cancelled
            error = None if refresher.cancelled() else refresher.exception()
            if error is not None:
                raise error  # a drawing error: show it rather than lose it
        show_diagram(self.timeline.plot(), self._handle)
