"""Phases read from the await chain: where in the learner's code a task waits.

``waits.describe_wait`` walks the chain of coroutines a suspended task is awaiting through,
frame by frame. Some frames of the learner's code say which *phase* of a pattern the wait is
in, with no ``span()`` needed:

- a class's ``__aenter__`` / ``__aexit__``: ``AsyncResource.__aenter__``;
- the body of an ``@asynccontextmanager`` generator, driven by contextlib's ``__aenter__``
  (before its ``yield``: ``managed_resource: setup``) or ``__aexit__`` (after it:
  ``managed_resource: cleanup``);
- an async generator producing its next item, ``anext(fetch_pages)``, or a class's
  ``__anext__``;
- a method named ``acquire`` (a pool handing out a connection).

Each code object's role is worked out once (``phase_of_code``, cached with the frame in
``waits``), so the walk pays one attribute read per frame. The innermost phase on the chain
wins, and the wait's label becomes ``"<phase> › <what it awaits>"``. ``model.phase_bands`` then joins
consecutive waits of one phase in a lane into one band, drawn along the top of the lane.
"""

from __future__ import annotations

import inspect
from types import CodeType

SEPARATOR = " \u203a "  # "AsyncResource.__aenter__ › sleep"

# Roles of a code object on the await chain (the second item of a phase spec is its text).
_FIXED = "fixed"  # the phase is the text itself
_GENERATOR = "generator"  # an async generator: the phase depends on who drives it
_CM_SETUP = "cm setup"  # contextlib's _AsyncGeneratorContextManager.__aenter__
_CM_CLEANUP = "cm cleanup"  # ... and its __aexit__

_CONTEXTLIB_CM = "_AsyncGeneratorContextManager."
_ACQUIRE_NAMES = ("acquire",)


def phase_of_code(code: CodeType, qualname: str, is_library: bool) -> tuple[str, str] | None:
    """The phase role of a code object on an await chain, or None (most code)."""
    if is_library:
        full = getattr(code, "co_qualname", "")
        if full.startswith(_CONTEXTLIB_CM):
            if code.co_name == "__aenter__":
                return (_CM_SETUP, "")
            if code.co_name == "__aexit__":
                return (_CM_CLEANUP, "")
        return None
    if code.co_flags & inspect.CO_ASYNC_GENERATOR:  # also an @asynccontextmanager acquire()
        return (_GENERATOR, qualname)
    name = code.co_name
    if name in ("__aenter__", "__aexit__") or name in _ACQUIRE_NAMES:
        return (_FIXED, qualname)
    if name == "__anext__":
        owner = qualname.rpartition(".")[0] or "iterator"
        return (_FIXED, f"anext({owner})")
    return None


def phase_here(role: tuple[str, str], previous: object | None, current: str | None) -> str | None:
    """The phase after passing a frame of the learner's code with ``role``.

    ``previous`` is the ``waits._Frame`` just outside it on the chain (None after an
    ``anext(...)`` step), ``current`` the phase so far.
    """
    kind, text = role
    if kind == _FIXED:
        return text
    if kind == _GENERATOR:
        driver = getattr(previous, "phase", None)
        if driver is not None:
            if driver[0] == _CM_SETUP:
                return f"{text}: setup"
            if driver[0] == _CM_CLEANUP:
                return f"{text}: cleanup"
    return current  # e.g. anext(gen), named by the step that drives the generator


def split(label: str) -> tuple[str | None, str]:
    """``"phase › what"`` -> ``("phase", "what")``; a label without a phase -> ``(None, label)``."""
    phase, separator, what = label.rpartition(SEPARATOR)
    return (phase, what) if separator else (None, label)


def kind_of(phase: str) -> str:
    """The colour group of a phase: "setup", "cleanup" or "iteration"."""
    if phase.startswith("aclose(") or phase.endswith(("__aexit__", ": cleanup")):
        return "cleanup"
    if phase.startswith("anext("):
        return "iteration"
    return "setup"


PHASE_KINDS = ("setup", "cleanup", "iteration")


def short(phase: str) -> str:
    """The last part of a phase, for a narrow band: ``AsyncResource.__aenter__`` -> ``enter``,
    ``managed_resource: setup`` -> ``setup``, ``Pool.acquire`` -> ``acquire``."""
    if phase.startswith(("anext(", "aclose(")):
        return phase
    if ": " in phase:
        return phase.rpartition(": ")[2]
    last = phase.rpartition(".")[2]
    return {"__aenter__": "enter", "__aexit__": "exit", "__anext__": "anext"}.get(last, last)
