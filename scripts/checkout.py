"""The checkout's layout, and the small helpers that the scripts and the tests share.

Scripts run from this folder (``python scripts/build_site.py``), and the tests have it on their
path (pytest.ini), so both import it as ``checkout``. The package never does: ``asynclab.paths``
finds its own files, also when installed outside this repository.
"""

from __future__ import annotations

import socket
from collections.abc import Mapping
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS_DIR = ROOT / "notebooks"
PACKAGE_DIR = NOTEBOOKS_DIR / "asynclab"

STDERR_CHARS = 500  # how much of a stderr text a report quotes


def output_problems(output: Mapping[str, Any]) -> list[str]:
    """What in one cell output counts as a failure: an error, or any text on stderr.

    ``output`` is an nbformat output (``output_type``) or an iopub message's content with its
    ``msg_type`` added. The site build and the notebook tests both judge outputs with this.
    """
    kind = output.get("output_type") or output.get("msg_type")
    if kind == "error":
        return [f"{output.get('ename')}: {output.get('evalue')}"]
    if kind == "stream" and output.get("name") == "stderr":
        return [f"stderr: {str(output.get('text', '')).strip()[:STDERR_CHARS]}"]
    return []


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
