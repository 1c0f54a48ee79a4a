"""Self-checking exercises that judge async *behaviour*, not just return values.

In a notebook (the learner's side)::

    from asynclab.exercises.nb01 import q1

    async def async_range(n, delay):   # the exercise cell ships as a stub; the learner fills it in
        ...

    await q1.check()      # finds `async_range` in the notebook, runs it under watch, prints a verdict
    q1.hint()             # the next hint; after the last one, says there are no more
    q1.solution()         # the reference answer, syntax-highlighted

``check()`` never raises for a learner's mistake (so Run All goes on) and never writes to stderr.
It shows a one-line verdict ("✔ Correct!", "✘ Not yet: ...", "… Not answered yet: ...") and
returns a ``Result``: truthy when passed, with ``.passed``, ``.status``, ``.message``. When the
problem is timing, it also shows the learner's timeline beside the reference one (in Jupyter only).
``await q1.check(my_function)`` checks an explicit object instead of looking the name up.

What every check catches on its own, before or while the judge runs the code
------------------------------------------------------------------------------
- the name not defined yet, or still the stub (``...``/``pass``/``raise NotImplementedError``):
  "Not answered yet";
- the wrong kind of thing: a plain ``def`` where ``async def`` is needed, a coroutine function where
  an async generator is needed (and a returned list instead of yielded items), a regular context
  manager or generator where an async one is needed;
- a forgotten ``await``: a coroutine, task or list of coroutines coming back as the value, or a
  coroutine created and dropped (closed for the learner, so no "never awaited" warning appears);
- an exception from the learner's code: type, message and the line of *their* code, plus advice for
  the usual async mistakes (``for`` on an async generator, ``with`` on an async context manager, ...);
- a blocked event loop (``time.sleep`` or any blocking call), with the culprit line when it is ``time.sleep``;
- an ``aiohttp.ClientSession`` left open (closed for the learner), tasks left running (cancelled),
  a task that failed with nobody awaiting it;
- a hang: stopped after ``time_limit`` seconds (default 5) with a hint about a missing stop condition.

Only what the check itself ran is judged: the garbage of earlier cells and checks is collected
before it starts (quietly), and its own garbage before it returns, so a coroutine an earlier answer
dropped is never blamed on this one, and nothing of a check warns later in another cell
(``probes.TrialWindow``).

How to write an exercise module (``asynclab/exercises/nbXX.py``)
---------------------------------------------------------------
One module per notebook; ``demo.py`` is a complete example. For each exercise:

1. Write the reference answer as ordinary code, under the very name the learner must use; it is
   what ``solution()`` shows (``inspect.getsource``) and what timing comparisons run.
2. Create the ``Exercise``: the name to look up, the kind of answer expected, the reference, hints.
3. Register a judge: ``async def judge(trial, answer)``. Run the learner's code only through the
   trial's steps, then judge what came back with the ``expect`` methods. A judge that returns
   normally means "correct"::

    import asyncio
    from asynclab.exercises import Exercise

    __all__ = ["q1"]          # keeps the reference answers out of `from ... import *`

    async def async_range(n, delay):
        for i in range(n):
            await asyncio.sleep(delay)
            yield i

    q1 = Exercise(
        "async_range",                    # the learner's name for it
        expects="async generator",        # or "async function", "async context manager", "async iterable", None
        reference=async_range,
        hints=["An async generator is an `async def` that contains `yield`.", "..."],
        success="optional sentence after 'Correct!'",
    )

    @q1.judge
    async def judge_async_range(trial, async_range):
        items = await trial.collect(async_range, 3, 0.25)
        trial.expect_equal(items, [0, 1, 2], "`async_range(3, 0.25)` yielded")

Tools on ``trial`` (see trial.py for the details):

- ``await trial.call(fn, *args, timeline=False, doing=None)``: call and await; returns the value.
- ``await trial.collect(source, *args, limit=None, timeline=False)``: ``async for`` over
  ``source(*args)`` (an async generator function or an async-iterable class) or over ``source``
  itself (an async iterable); returns a list with ``.arrival_times``; ``limit`` stops early and
  closes the generator, as ``break`` inside ``aclosing`` would.
- ``await trial.context_manager(fn, *args)``: call and check the result works with ``async with``.
- ``async with trial.step("`async with stopwatch()`", timeline=False):`` any other learner code,
  under the same watch (e.g. your own ``async with`` around their context manager).
- ``trial.expect(condition, message)``, ``trial.expect_equal(got, expected, "`f(1)` returned")``,
  ``with trial.expect_raises(ValueError, message):``, ``trial.fail(message)``.
- ``await trial.expect_concurrency(waits="sleep", at_least=5, at_most=None, what="requests",
  reference_args=(...), advice="...")``: judged on the timeline of the latest step run with
  ``timeline=True``; on failure shows both diagrams ("your code" / "reference").
- ``await trial.expect_slots_busy(jobs, limit=3, what="downloads", waiting="URLs", reference_args=(...))``:
  for "at most ``limit``, and ``limit`` whenever enough work is waiting". ``jobs`` are
  ``schedule.Job(ready, start, end)`` read from the timeline; fails (with both diagrams) when the
  slot-seconds left idle while work waited reach ``trial.IDLE_SHARE`` (15%) of the work, and says
  "in batches" only when the jobs did run as batches. ``await trial.fail_on_timing(message, ...)``
  fails any other schedule with both diagrams and "X s instead of about Y s" in place of ``{timing}``.
- ``trial.expect_cancelled(task, "When the block was cancelled")`` after ``cancel_during``: the
  answer let ``CancelledError`` go on.
- ``trial.timeline`` (an ``asynclab.Timeline``) for anything else about timing;
  ``await trial.reference_timeline(*args)`` runs the reference under a timeline.
- ``trial.lookup("other_name")`` for exercises with more than one definition.
- ``WatchedAsyncGenerator(items, delay)``: an async generator to hand to learner code; afterwards
  ``.closed`` says whether they closed it (``aclosing``), ``.exhausted`` whether they used it all.

Stubs in the notebook's exercise cells: keep the ``def`` line and docstring and make the body
``...`` or ``raise NotImplementedError`` (a comment such as ``# YOUR CODE HERE`` is fine). For a
class, give every method such a body. ``check()`` then reports "Not answered yet" instead of running it.

Write messages in the learner's terms: what they wrote (in backticks), what happened, what to do.
The time limit covers the whole judge (every step, and the reference runs for diagrams).

Say in a message only what the judge established (pages from a set came in no order at all, so
"in the order they finished" is said only when the timeline shows it). Test each exercise with its
reference, with the wrong answers you expect, and with one answer breaking each requirement of the
prompt and each claim of ``success``; each ``tests/test_exercises_nbXX.py`` ends with a
``REQUIREMENTS`` map (requirement -> the judge's words -> the breaking test) that a test checks
against both sources (see tests/test_exercises_core.py for the style); ``show=False`` keeps the output quiet, ``time_limit=`` shortens
hang tests, and a judge's own bug comes back as status ``"error"`` with the exception in
``result.error``::

    def test_q1():
        assert asyncio.run(q1.check(q1.reference, show=False)).passed
        result = asyncio.run(q1.check(async_range_with_time_sleep, show=False))
        assert result.status == "failed" and "event loop was blocked" in result.message

Exercise options: ``time_limit`` (5 s), ``blocking_threshold`` (0.15 s: a longer single block of the
event loop fails the check, so give the learner's code waits longer than that when blocking matters),
``hang_hint``, ``solution="..."`` (source text to show instead of the reference's).
"""

from .core import Exercise, Failure, NotAnswered, Result
from .diagnose import ASYNC_CONTEXT_MANAGER, ASYNC_FUNCTION, ASYNC_GENERATOR, ASYNC_ITERABLE
from .probes import WatchedAsyncGenerator
from .trial import Collected, Trial

__all__ = [
    "ASYNC_CONTEXT_MANAGER",
    "ASYNC_FUNCTION",
    "ASYNC_GENERATOR",
    "ASYNC_ITERABLE",
    "Collected",
    "Exercise",
    "Failure",
    "NotAnswered",
    "Result",
    "Trial",
    "WatchedAsyncGenerator",
]
