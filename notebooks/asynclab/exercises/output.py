"""Showing things to the learner: rich output inside IPython/Jupyter, plain text on stdout elsewhere.

Nothing here ever writes to stderr: in a notebook, stderr looks like an error.
"""

from __future__ import annotations

import sys

from .._ipython import ipython_shell


class Shown(str):
    """Text that has already been shown: a plain ``str`` for code and tests, silent as a cell's value.

    ``hint()`` and ``solution()`` display their text and also return it; without this the notebook
    would print it a second time as the cell's ``Out[...]``.
    """

    def _ipython_display_(self):
        pass


def show_text(plain: str, markdown: str | None = None) -> None:
    """Markdown in Jupyter (with ``plain`` as the text/plain fallback), ``plain`` on stdout elsewhere."""
    if ipython_shell() is None or markdown is None:
        print(plain, flush=True)
        return
    from IPython.display import display

    display({"text/plain": plain, "text/markdown": markdown}, raw=True)


def show_code(source: str, heading: str) -> None:
    """Syntax-highlighted Python in Jupyter, indented plain text elsewhere."""
    if ipython_shell() is None:
        print(heading, flush=True)
        print(source.rstrip(), flush=True)
        return
    from IPython.display import Code, display

    display({"text/plain": heading, "text/markdown": f"**{heading}**"}, raw=True)
    display(Code(source, language="python"))


def show_figure(figure) -> None:
    """Display a matplotlib figure once, in Jupyter only (tests and scripts never open windows)."""
    if ipython_shell() is None or figure is None:
        return
    from IPython.display import display

    display(figure)
    if "matplotlib.pyplot" in sys.modules:  # keep the inline backend from drawing it a second time
        sys.modules["matplotlib.pyplot"].close(figure)
