"""Timing diagrams for async code: which task ran when, what it waited for, what overlapped.

    from asynclab import Timeline

    async with Timeline("three downloads") as tl:
        await asyncio.gather(fetch(1), fetch(2), fetch(3))
    # In a notebook the diagram appears (and updates while the block runs).
    tl.summary(), tl.max_concurrency("sleep"), tl.plot(), tl.to_chrome_trace("t.json")
    print(tl.describe())  # the diagram as text: lanes, waits, overlap, total

Library and lesson code can add named phases that show up only while someone records:

    from asynclab.timeline import span
    async with span("connect"):
        ...

Modules: ``recorder`` (the Timeline class), ``capture`` (task factory and step timer),
``block_task`` (the lane of the block's own task), ``waits`` (what a task waits on),
``model`` (spans and lanes), ``analysis`` (summary, max_concurrency), ``layout`` and
``drawing`` (the figure), ``notebook`` (display and live refresh), ``export`` (Chrome trace).
"""

from .model import Span, TaskInfo
from .recorder import Timeline, mark, span

__all__ = ["Span", "TaskInfo", "Timeline", "mark", "span"]
