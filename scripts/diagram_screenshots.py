"""Save the diagrams some cells of a notebook display, as PNG files (for reviewing the drawing).

    python scripts/diagram_screenshots.py notebooks/02_async_comprehensions.ipynb \
        "tl_sequential.compare(tl_gather" build/screenshots/02-gather

runs the notebook top to bottom in a fresh kernel and writes each PNG that a cell containing the
given text displayed to ``PREFIX-1.png``, ``PREFIX-2.png``, ...; each diagram's text/plain
(its description) is printed.
"""

import argparse
import base64
import sys
from pathlib import Path

import nbformat
from nbclient import NotebookClient


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebook", type=Path)
    parser.add_argument("cell_text", help="save the diagrams of the cells whose source contains this")
    parser.add_argument("prefix", type=Path, help="output path without the -N.png ending")
    args = parser.parse_args()
    nb = nbformat.read(args.notebook, as_version=4)
    NotebookClient(
        nb,
        timeout=120,
        kernel_name="python3",
        allow_errors=True,
        resources={"metadata": {"path": str(args.notebook.parent)}},
    ).execute()
    args.prefix.parent.mkdir(parents=True, exist_ok=True)
    saved = 0
    for cell in nb.cells:
        if cell.cell_type != "code" or args.cell_text not in cell.source:
            continue
        for output in cell.outputs:
            data = output.get("data", {})
            if "image/png" not in data:
                continue
            saved += 1
            path = args.prefix.with_name(f"{args.prefix.name}-{saved}.png")
            path.write_bytes(base64.b64decode(data["image/png"]))
            size = output.get("metadata", {}).get("image/png", {})
            print(f"{path} ({path.stat().st_size:,} bytes, shown at {size or 'its own size'})")
            print(data.get("text/plain", ""))
    if not saved:
        sys.exit(f"no cell containing {args.cell_text!r} displayed a PNG")


if __name__ == "__main__":
    main()
