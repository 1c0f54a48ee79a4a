"""The exercise object a notebook uses: ``await q1.check()``, ``q1.hint()``, ``q1.solution()``.

``check()`` finds the learner's answer, rules out the easy mistakes before running anything
(not defined yet, still the stub, not even ``async def``), then runs the exercise's *judge* in its
own task under a time limit. The judge is an ``async def judge(trial, answer)`` written by the
notebook author with the tools on ``Trial`` (see trial.py). Whatever happens, ``check()`` shows a
short verdict and returns a ``Result``; it never raises for a learner's mistake, so Run All goes on.
"""

from __future__ import annotations

import asyncio
import inspect
import sys
import textwrap
import weakref
from dataclasses import dataclass

from . import diagnose, output
from .exceptions import ERROR, FAILED, NOT_ANSWERED, PASSED, Failure, NotAnswered, Verdict
from .probes import TrialWindow
from .trial import Trial, take_outcome

DEFAULT_HANG_HINT = (
    "Is a loop missing its stop condition (a `break`, or a counter that never changes), "
    "or is it awaiting something that never finishes?"
)


# How each status is introduced: plain text, then Markdown for Jupyter.
_HEADLINES = {
    PASSED: ("✔ Correct!", '<span style="color:#2e7d32">**✔ Correct!**</span>'),
    FAILED: ("✘ Not yet:", '<span style="color:#c62828">**✘ Not yet:**</span>'),
    NOT_ANSWERED: ("… Not answered yet:", '<span style="color:#1565c0">**… Not answered yet:**</span>'),
    ERROR: ("⚠ This answer could not be checked:", "**⚠ This answer could not be checked:**"),
}


@dataclass
class Result:
    """The outcome of one ``check()``: truthy when the answer passed."""

    status: str
    message: str
    exercise: str = ""
    timelines: tuple | None = None  # (yours, reference) timelines when timing was the problem
    error: BaseException | None = None  # for exercise authors: the internal error behind ERROR
    _shown: bool = False

    @property
    def passed(self) -> bool:
        return self.status == PASSED

    def __bool__(self) -> bool:
        return self.passed

    def __str__(self) -> str:
        return f"{_HEADLINES[self.status][0]} {self.message}".strip()

    def __repr__(self) -> str:
        return f"<Result {self.status}: {self.message[:60]}{'...' if len(self.message) > 60 else ''}>"

    def figure(self):
        """Your timeline beside the reference one on a shared time axis (a matplotlib Figure), or None."""
        if not self.timelines:
            return None
        yours, reference = self.timelines
        return yours.compare(reference, titles=("your code", "reference"))

    def show(self) -> None:
        output.show_text(str(self), f"{_HEADLINES[self.status][1]} {self.message}")
        self._shown = True
        if self.timelines and output.ipython_shell() is not None:
            try:
                output.show_figure(self.figure())
            except Exception:  # the verdict has been given; a diagram that fails to draw must not raise
                pass

    def _ipython_display_(self):
        if not self._shown:  # `await q1.check()` as a cell's last line: already shown once
            self.show()


_MISSING = object()


class Exercise:
    """One self-checking exercise.

    name:       what the learner defines (``check()`` with no argument looks it up by this name)
    expects:    the kind of answer, checked before anything runs: ``"async function"``,
                ``"async generator"``, ``"async context manager"``, ``"async iterable"``, or None
    reference:  the reference answer (function or class); ``solution()`` shows its source and
                judges may run it, e.g. to draw the reference timeline
    solution:   source text to show instead of ``reference``'s source
    hints:      revealed one at a time by ``hint()``; Markdown allowed
    judge:      ``async def judge(trial, answer)``; or register it with the ``@exercise.judge`` decorator
    time_limit: seconds before a check is stopped and reported as too slow/hanging
    blocking_threshold: a single stretch of blocked event loop longer than this fails the check
    success:    extra sentence after "Correct!"
    hang_hint:  advice after "was still running after N s"
    """

    def __init__(
        self,
        name,
        *,
        expects=None,
        reference=None,
        solution=None,
        hints=(),
        judge=None,
        time_limit=5.0,
        blocking_threshold=0.15,
        success="",
        hang_hint=DEFAULT_HANG_HINT,
    ):
        if expects is not None and expects not in diagnose.KINDS:
            raise ValueError(f"expects must be one of {diagnose.KINDS} or None, not {expects!r}")
        self.name = name
        self.expects = expects
        self.reference = reference
        self._solution = solution
        self.hints = list(hints)
        self._judge = judge
        self.time_limit = time_limit
        self.blocking_threshold = blocking_threshold
        self.success = success
        self.hang_hint = hang_hint
        self._hints_seen = 0
        self._module = sys._getframe(1).f_globals.get("__name__")  # to find our variable name later

    def __repr__(self):
        return f"<Exercise {self.label or self.name}: define `{self.name}`>"

    def judge(self, fn):
        """Decorator: ``@q1.judge`` above ``async def _(trial, answer): ...`` registers the judge."""
        self._judge = fn
        return fn

    @property
    def label(self) -> str | None:
        """The variable this exercise is stored in (``q1``), for messages like "run `q1.hint()`"."""
        module = sys.modules.get(self._module) if self._module else None
        for key, value in vars(module).items() if module else ():
            if value is self:
                return key
        return None

    def _call(self, method: str) -> str:
        return f"`{self.label}.{method}()`" if self.label else f"`.{method}()` on this exercise"

    # --- check ----------------------------------------------------------------------------------

    async def check(self, answer=_MISSING, *, namespace=None, time_limit=None, show=True) -> Result:
        """Judge the learner's answer and show a verdict; never raises for a learner's mistake.

        answer:     what to check; by default ``self.name`` looked up in ``namespace``
        namespace:  where to look it up; by default the notebook's (IPython's user namespace, or ``__main__``)
        time_limit: overrides the exercise's time limit (seconds)
        show:       False returns the Result without printing it
        """
        namespace = _learner_namespace() if namespace is None else namespace
        try:
            if answer is _MISSING:
                answer = namespace.get(self.name, _MISSING)
            async with _one_check_at_a_time():
                with TrialWindow():  # only what this check creates is judged, and nothing of it leaks
                    result = await self._judge_answer(answer, namespace, time_limit or self.time_limit)
        except Exception as exc:  # a bug in asynclab or in this exercise's judge, not the learner's fault
            result = Result(
                ERROR,
                f"{type(exc).__name__}: {exc}. This is a problem in the exercise itself, not in your answer.",
                self.name,
                error=exc,
            )
        if show:
            result.show()
        _record_progress(self, "check", outcome=result.status)
        return result

    async def _judge_answer(self, answer, namespace, time_limit) -> Result:
        try:
            self._precheck(answer)
            await self._run_judge_bounded(answer, namespace, time_limit)
        except Verdict as verdict:
            return Result(verdict.status, verdict.message, self.name, verdict.timelines)
        return Result(PASSED, self.success, self.name)

    def _precheck(self, answer) -> None:
        """The mistakes visible without running anything."""
        if answer is _MISSING:
            raise NotAnswered(
                f"`{self.name}` is not defined yet. Write it in the exercise cell, "
                f"run that cell, then run this cell again."
            )
        if diagnose.is_stub(answer):
            raise NotAnswered(f"`{self.name}` is still the stub. Fill it in, run that cell, then run this cell again.")
        problem = diagnose.shape_problem(answer, self.expects, self.name)
        if problem:
            raise Failure(problem + ".")

    async def _run_judge_bounded(self, answer, namespace, time_limit) -> None:
        """Run the judge in its own task, so a hanging answer can be stopped after ``time_limit``."""
        if self._judge is None:
            raise RuntimeError(f"exercise {self.name!r} has no judge")
        trial = Trial(self, answer, namespace)
        task = asyncio.create_task(self._judge(trial, answer), name=self.name)
        try:
            done, _ = await asyncio.wait({task}, timeout=time_limit)
            if not done:
                raise Failure(await self._stop_hanging(task, trial, time_limit))
            task.result()  # re-raises the judge's Verdict or internal error
        finally:
            if not task.done():  # the check itself was interrupted (kernel interrupt)
                task.cancel()
                # Whatever the judge ends with now answers nobody: take it, so it is never reported.
                task.add_done_callback(take_outcome)

    async def _stop_hanging(self, task, trial, time_limit) -> str:
        task.cancel()
        done, _ = await asyncio.wait({task}, timeout=1.0)
        message = f"{trial.doing} was still running after {time_limit:g} s, so the check stopped it. {self.hang_hint}"
        if not done:
            message += (
                " It did not even stop when cancelled: does it catch `CancelledError` "
                "(a bare `except:` or `except BaseException`)?"
            )
        elif not task.cancelled():
            task.exception()  # whatever it ended with, the hang is the verdict
        return message

    # --- hints and solution --------------------------------------------------------------------

    def hint(self, number: int | None = None) -> str:
        """Show the next hint (or hint ``number``, counting from 1); after the last, say there are no more."""
        total = len(self.hints)
        if number is None and self._hints_seen >= total:
            text = (
                f"No more hints: you have seen all {total}. {self._call('solution')} shows a full answer."
                if total
                else f"This exercise has no hints. {self._call('solution')} shows a full answer."
            )
            output.show_text(text, text)
            return output.Shown(text)
        if number is None:
            self._hints_seen += 1
            number = self._hints_seen
        if not 1 <= number <= total:
            text = f"There are {total} hints: ask for one between 1 and {total}."
            output.show_text(text, text)
            return output.Shown(text)
        hint = self.hints[number - 1]
        more = f" ({self._call('hint')} again for the next one)" if number < total else ""
        output.show_text(f"Hint {number} of {total}: {hint}{more}", f"**Hint {number} of {total}:** {hint}{more}")
        _record_progress(self, "hint", hint=number, of=total)
        return output.Shown(hint)

    def solution(self) -> str:
        """Show the reference answer as syntax-highlighted code, and return its source."""
        source = self.solution_source()
        output.show_code(source, f"Solution for `{self.name}`:")
        _record_progress(self, "solution")
        return output.Shown(source)

    def solution_source(self) -> str:
        if self._solution is not None:
            return textwrap.dedent(self._solution).strip() + "\n"
        if self.reference is None:
            return "# There is no reference solution for this exercise.\n"
        parts = self.reference if isinstance(self.reference, (list, tuple)) else [self.reference]
        return "\n\n".join(textwrap.dedent(inspect.getsource(p)).strip() for p in parts) + "\n"


# The probes patch process-wide things (time.sleep, warnings, the loop's task factory) for the
# duration of a check, so two checks on one loop (`asyncio.gather(q1.check(), q2.check())`) take turns.
_check_locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = weakref.WeakKeyDictionary()


def _one_check_at_a_time() -> asyncio.Lock:
    loop = asyncio.get_running_loop()
    if loop not in _check_locks:
        _check_locks[loop] = asyncio.Lock()
    return _check_locks[loop]


def _learner_namespace() -> dict:
    shell = output.ipython_shell()
    if shell is not None:
        return shell.user_ns
    return vars(sys.modules["__main__"])


# --- progress: every check, hint and solution goes to the learner's record (asynclab/progress_log.py) ---


def _record_progress(exercise: Exercise, event: str, **details) -> None:
    """Never raises: a record that cannot be written is skipped, with one line saying why."""
    try:
        from ..progress_log import record

        record(exercise, event, **details)
    except Exception:
        pass
