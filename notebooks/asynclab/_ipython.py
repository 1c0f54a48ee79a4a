"""Is this code running under IPython, and inside a Jupyter kernel?

A leaf module: it imports nothing of asynclab, and never imports IPython itself (a plain script or
pytest must not pay for it, and IPython is imported only when it already runs the code).
"""

import sys
from typing import Any


def ipython_shell() -> Any | None:
    """The running IPython shell, or None (plain Python, pytest, IPython imported but not running)."""
    ipython = sys.modules.get("IPython")
    if ipython is None:
        return None
    return ipython.get_ipython()


def in_ipython() -> bool:
    """True when an IPython shell runs this code (a terminal IPython or a Jupyter kernel)."""
    return ipython_shell() is not None


def in_jupyter_kernel() -> bool:
    """True inside a Jupyter kernel (not in a terminal IPython, not in a plain script)."""
    return getattr(ipython_shell(), "kernel", None) is not None
