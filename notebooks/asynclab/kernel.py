"""Make the stop button stop an awaiting cell at once.

ipykernel stops an awaiting cell from its SIGINT handler by scheduling the cell task's cancellation
on the event loop. A Python signal handler does not wake a loop that is blocked in ``select()``, so
the cancellation waits for the loop's next timer or I/O: a cell awaiting ``asyncio.sleep(60)``
stops only when the minute is over. Python wakes a blocked selector when a signal arrives if
``signal.set_wakeup_fd`` points at the loop's self-pipe; asyncio does exactly that when a loop
signal handler is added, and this module does it for the kernel's loop.
"""

import asyncio
import signal
import threading

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
