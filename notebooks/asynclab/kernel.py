"""Make the stop button stop an awaiting cell at once.

ipykernel stops an awaiting cell from its SIGINT handler by scheduling the cell task's cancellation
on the event loop. A Python signal handler does not wake a loop that is blocked in ``select()``, so
the cancellation waits for the loop's next timer or I/O: a cell awaiting ``asyncio.sleep(60)``
stops only when the minute is over. Python wakes a blocked selector when a signal arrives if
``signal.set_wakeup_fd`` points at the loop's self-pipe; asyncio does exactly that when a loop
signal handler is added, and this module does it for the kernel's loop.

It also lets IPython show the traceback of an exception that passed through an ``except*`` it did
not match, such as the ``CancelledError`` of a cell stopped inside ``try: ... except* ...:``.
After ``except*`` re-raises, the frame's ``f_lineno`` is ``None`` (Python 3.11 and later), and
IPython 9 reads the line of a frame whose file is not on disk (every cell's) from ``f_lineno``: its
traceback formatter then fails an assertion and prints its own crash on stderr instead of the
cell's traceback. ``show_tracebacks_through_except_star()`` gives such a frame the line its
traceback entry records.

And it shows an exception that involves an exception group (a ``TaskGroup``'s, or the stop
button's ``CancelledError`` raised while one was being handled) as the cell's error, like any
other. IPython 8 and 9 print such an exception with ``traceback.print_exc()``, on stderr, for
want of a formatter for groups; ``show_exception_groups_as_errors()`` sends the same text as the
cell's error output instead.

Last, a stop that lands while the garbage collector runs a finaliser would be lost, with "Exception
ignored in ..." on stderr; ``resend_stops_lost_in_finalizers()`` sends it again.
"""

import _thread
import asyncio
import signal
import sys
import threading
from typing import Any

from ._ipython import in_jupyter_kernel


def wake_loop_on_signals(loop: asyncio.AbstractEventLoop | None = None) -> bool:
    """Let a signal (the stop button's SIGINT) wake ``loop``; True when it is set up.

    Does nothing, and returns False, off the main thread, without a running loop, on a loop with
    no self-pipe (uvloop's, for one), when the platform refuses
    the descriptor, or when something else already owns the wake-up file descriptor.
    """
    if threading.current_thread() is not threading.main_thread():
        return False
    if loop is None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return False
    # asyncio's selector loops wake themselves through their self-pipe, ``_csock``: private, and
    # nothing public names it. A feature test rather than a version bound: the stop button works
    # without this (it only waits for the loop's next event), so a loop without it (uvloop's, a
    # future asyncio's) is simply left alone, as test_kernel checks.
    self_pipe = getattr(loop, "_csock", None)
    if self_pipe is None or self_pipe.fileno() < 0:
        return False
    fd = self_pipe.fileno()
    try:
        previous = signal.set_wakeup_fd(fd, warn_on_full_buffer=False)
    except (ValueError, OSError):  # e.g. a descriptor Windows will not take: the stop button waits, as before
        return False
    if previous not in (-1, fd):  # someone else's: leave it as it was
        signal.set_wakeup_fd(previous)
        return False
    return True


def in_kernel() -> bool:
    """True inside a running IPython kernel (a notebook), where the stop button exists."""
    return in_jupyter_kernel()


def show_tracebacks_through_except_star() -> bool:
    """Let IPython format a traceback with a frame left by an ``except*``; True when it is set up.

    Wraps ``VerboseTB.get_records`` (IPython's list of the frames to show) so that a frame with no
    line number gets the one its traceback entry records (``tb_lineno``, always set). Does nothing
    without IPython, or on an IPython whose formatter has no such method.
    """
    try:
        from IPython.core import ultratb
    except ImportError:
        return False
    get_records = getattr(ultratb.VerboseTB, "get_records", None)
    if get_records is None:
        return False
    if getattr(get_records, "_asynclab_lines", False):
        return True

    def get_records_with_lines(self: Any, etb: Any, *args: Any, **kwargs: Any) -> Any:
        records = get_records(self, etb, *args, **kwargs)
        if any(getattr(record, "lineno", 0) is None for record in records):
            lines: dict[Any, int] = {}
            tb = etb
            while tb is not None:
                lines.setdefault(tb.tb_frame, _line_of(tb))
                tb = tb.tb_next
            for record in records:
                if getattr(record, "lineno", 0) is None and getattr(record, "frame", None) in lines:
                    record.lineno = lines[record.frame]
        return records

    get_records_with_lines._asynclab_lines = True  # type: ignore[attr-defined]
    ultratb.VerboseTB.get_records = get_records_with_lines  # type: ignore[method-assign]
    return True


def _line_of(tb: Any) -> int:
    """The line a traceback entry stands at, even where CPython records none.

    On 3.11 an instruction the compiler added (the jump back at the end of a loop body) has no line,
    and a stop that lands there leaves ``tb_lineno`` None too: take the line of the last instruction
    before it that has one.
    """
    if tb.tb_lineno is not None:
        return tb.tb_lineno
    code = tb.tb_frame.f_code
    line = code.co_firstlineno
    for start, _end, number in code.co_lines():
        if start > tb.tb_lasti:
            break
        if number is not None:
            line = number
    return line


def resend_stops_lost_in_finalizers() -> bool:
    """Let a stop that lands in a finaliser stop the cell; True when it is set up.

    The garbage collector can run a ``__del__`` or a weak reference's callback at any moment of a
    cell. A stop (SIGINT) that lands while one runs raises its ``KeyboardInterrupt`` there, where
    Python cannot raise it: it prints "Exception ignored in ..." on stderr, drops the interrupt,
    and the cell runs on. This ``sys.unraisablehook`` sends such an interrupt again, to the main
    thread's signal handler (the kernel's), so the cell stops as if the finaliser had not been
    running. Anything else goes to the hook that was there before.
    """
    previous = sys.unraisablehook
    if getattr(previous, "_asynclab_resend", False):
        return True

    def resend_stops(unraisable: Any) -> None:
        if (
            not isinstance(unraisable.exc_value, KeyboardInterrupt)
            or threading.current_thread() is not threading.main_thread()
        ):
            previous(unraisable)
            return
        # Sent from this hook, the interrupt would be raised in it, at its next check, and be
        # dropped again. A thread sends it once the hook has let go of the gate, its last call.
        gate = threading.Lock()
        gate.acquire()

        def resend() -> None:
            with gate:
                _thread.interrupt_main()

        try:
            threading.Thread(target=resend, name="asynclab-resend-stop", daemon=True).start()
        except RuntimeError:  # no new threads (the interpreter is shutting down): report it as before
            previous(unraisable)
        gate.release()

    resend_stops._asynclab_resend = True  # type: ignore[attr-defined]
    sys.unraisablehook = resend_stops
    return True


def show_exception_groups_as_errors() -> bool:
    """Show an exception with an exception group in its chain as the cell's error, not on stderr.

    Wraps ``InteractiveShell.showtraceback``: for such an exception, the standard traceback text
    (groups and their sub-exceptions included) goes to ``_showtraceback``, which a kernel sends as
    the cell's error output. Anything else is left to IPython. True when it is set up; does
    nothing without IPython, or on an IPython that formats groups itself.
    """
    try:
        from IPython.core.interactiveshell import InteractiveShell
    except ImportError:
        return False
    show = InteractiveShell.showtraceback
    if getattr(show, "_asynclab_groups", False):
        return True
    code = show.__code__
    if "contains_exceptiongroup" not in code.co_varnames + code.co_cellvars:
        return False

    def showtraceback(
        self: Any,
        exc_tuple: Any = None,
        filename: str | None = None,
        tb_offset: int | None = None,
        exception_only: bool = False,
        **kwargs: Any,
    ) -> Any:
        import traceback

        try:
            etype, value, tb = self._get_exc_info(exc_tuple)
        except ValueError:
            etype = value = None
        if exception_only or value is None or isinstance(value, SyntaxError) or not _in_a_group(value):
            return show(self, exc_tuple, filename, tb_offset, exception_only, **kwargs)
        if tb is not None and tb.tb_frame.f_code.co_name == "run_code":  # IPython's own frame
            tb = tb.tb_next
        stb = "".join(traceback.format_exception(etype, value, tb)).splitlines()
        self._showtraceback(etype, value, stb)
        return None

    showtraceback._asynclab_groups = True  # type: ignore[attr-defined]
    InteractiveShell.showtraceback = showtraceback  # type: ignore[method-assign, assignment]
    return True


def _in_a_group(exc: BaseException | None) -> bool:
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, BaseExceptionGroup):
            return True
        seen.add(id(exc))
        exc = exc.__context__
    return False
