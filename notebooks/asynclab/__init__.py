"""asynclab: helpers for the notebooks that teach async iteration and async context managers.

The notebooks import what they need from here; the plumbing (tracing, drawing, local servers,
self-checks) lives in the submodules so the lesson cells stay short:

- ``asynclab.timeline``: ``Timeline`` records what every task did and when, and draws it.
- ``asynclab.services``: ``start_services()`` runs a real aiohttp server and SQLite database locally.
- ``asynclab.exercises``: self-checking exercises (``check()``, ``hint()``, ``solution()``).
- ``asynclab.progress()``: the exercises solved, tried and not started, kept between sessions
  (``asynclab.progress_table``, from the record ``asynclab.progress_log`` keeps).

Names are imported lazily, so ``import asynclab`` stays cheap and a cell only pays for what it uses.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # what the lazy names below are, for type checkers
    from IPython.core.interactiveshell import InteractiveShell

    from .paths import DATA_DIR
    from .services import connect, start_services
    from .timeline import Timeline

__version__ = "0.1.0"  # the distribution's version too (pyproject.toml reads it from here)

__all__ = ["DATA_DIR", "Timeline", "connect", "progress", "start_services"]

_EXPORTS = {
    "Timeline": "timeline",
    "start_services": "services",
    "connect": "services",
    "DATA_DIR": "paths",
    "progress": "progress_table",
}


def __getattr__(name: str) -> Any:
    try:
        module = _EXPORTS[name]
    except KeyError:
        raise AttributeError(f"module 'asynclab' has no attribute {name!r}") from None
    value = getattr(import_module(f".{module}", __name__), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(list(globals()) + __all__)


def _prepare_kernel() -> None:
    # In a notebook, let the stop button interrupt an idle `await` at once, and show the traceback
    # of a cell stopped inside `try: ... except* ...:`, or while handling an exception group, as
    # the cell's error, and stop a cell whose stop landed in a finaliser (see kernel.py).
    from . import kernel

    if kernel.in_kernel():
        kernel.wake_loop_on_signals()
        kernel.show_tracebacks_through_except_star()
        kernel.show_exception_groups_as_errors()
        kernel.resend_stops_lost_in_finalizers()


_prepare_kernel()


def load_ipython_extension(ipython: InteractiveShell) -> None:
    """``%load_ext asynclab``: the ``%%timeline`` cell magic (see magic.py)."""
    from . import magic

    magic.load(ipython)


def unload_ipython_extension(ipython: InteractiveShell) -> None:
    from . import magic

    magic.unload(ipython)
