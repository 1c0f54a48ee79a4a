"""Timing diagrams for async code: which task ran when, what it waited for, what overlapped.

    from asynclab import Timeline

    async with Timeline("three downloads") as tl:
        await asyncio.gather(fetch(1), fetch(2), fetch(3))
    # In a notebook the diagram appears (and updates while the block runs).
    tl.summary(), tl.max_concurrency("sleep"), tl.plot(), tl.to_chrome_trace("t.json")
    print(tl.describe())  # the diagram as text: lanes, waits, overlap, total

Waits are named with where they happen in your code as well as what they await
(``AsyncResource.__aenter__ › sleep``, ``managed_resource: cleanup › sleep``,
``anext(fetch_pages) › socket read``), and consecutive waits of one phase are drawn as one band:
context managers, async generators and pools need no instrumenting. A step that holds up the
whole loop for ``blocked_ms`` (50 ms) or more is drawn as a red band across every lane, naming
the call that blocked (``loop blocked 80 ms: worker-2 at time.sleep, cell line 12``).

Child lanes sit under the task that created them, joined by the tree's lines, and a parent's
wait in ``gather``, ``TaskGroup.__aexit__`` or ``await task`` names the lanes it waits on. Every
asyncio Lock, Semaphore, Queue, Event and Condition the block's tasks wait on (or that its
variables hold) gets a thin track under the lanes: who holds it, permits in use, queue length,
set or clear (``tl.track(obj, "name")`` adds one).

To annotate a block from the outside, library and lesson code can add named phases that show
up only while someone records:

    from asynclab.timeline import span
    async with span("connect"):
        ...

Modules: ``recorder`` (the Timeline class), ``capture`` (task factory and step timer),
``block_task`` (the lane of the block's own task), ``waits`` (what a task waits on),
``phases`` (where in your code it waits), ``blocked`` (steps that block the loop, and the call),
``resources`` (tracks of locks, semaphores, queues, events and conditions),
``model`` (spans and lanes), ``analysis`` (summary, max_concurrency), ``layout`` and
``drawing`` (the figure), ``notebook`` (display and live refresh), ``export`` (Chrome trace).
"""

from .model import Span, TaskInfo
from .recorder import Timeline, mark, span

__all__ = ["Span", "TaskInfo", "Timeline", "mark", "span"]
