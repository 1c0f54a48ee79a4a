#!/usr/bin/env python3
"""Build the reading edition: every notebook executed fresh, rendered as a website in build/site/.

1. Each ``notebooks/NN_*.ipynb`` runs top to bottom in a fresh kernel (nbclient, the project's own
   interpreter and packages). Any error output or text on stderr stops the build: the site shows
   only what a clean run prints.
2. Hint and solution calls left uncommented have their output folded in a collapsed dropdown.
   Each diagram gets its text alternative: the output's ``text/plain`` (``Timeline.describe()``)
   becomes the image's ``alt``; the output's ``width``/``height`` metadata (the 1x size of a 2x
   PNG) is kept, so the image displays at 1x.
3. Jupyter Book 1.x (execution off) renders the executed notebooks from build/site-src/, with the
   configuration in site/_config.yml, into build/site/.

``JUPYTERHUB_URL`` (environment) sets the hub of the nbgitpuller launch link.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import nbformat
from checkout import NOTEBOOKS_DIR, ROOT, output_problems  # this folder is on the path when the script runs
from navigation import BADGES, notebook_paths
from nbclient import NotebookClient

NOTEBOOKS = NOTEBOOKS_DIR
CONFIG_DIR = ROOT / "site"
SOURCE = ROOT / "build" / "site-src"
OUTPUT = ROOT / "build" / "site"
# An exercise's q1.hint() / q1.solution() call, when a notebook leaves one uncommented.
REVEALS = re.compile(r"^\s*\w+\.(hint|solution)\(", re.M)
CELL_TIMEOUT = 60  # s; a lesson cell takes under 3 s, this only stops a hung kernel


class BuildError(SystemExit):
    pass


def problems_in(nb) -> list[str]:
    """Error outputs and stderr text (as the notebook tests judge them), one line each, naming the cell."""
    return [
        f"cell {number}: {problem}"
        for number, cell in enumerate(nb.cells, 1)
        for output in cell.get("outputs", [])
        for problem in output_problems(output)
    ]


def image_outputs(cell) -> list[dict]:
    return [o for o in cell.get("outputs", []) if "image/png" in o.get("data", {})]


def describe_images(nb) -> int:
    """Put each diagram's text/plain into its cell's image options as alt; return the image count."""
    count = 0
    for cell in nb.cells:
        images = image_outputs(cell)
        if not images:
            continue
        count += len(images)
        alts = [str(o["data"].get("text/plain", "")).strip() for o in images]
        image_options = cell.metadata.setdefault("mystnb", {}).setdefault("image", {})
        image_options["alt"] = " ".join(a for a in alts if a)
        # A 2x PNG says its 1x size in its metadata; the cell's image options are what myst-nb reads.
        width = images[0].get("metadata", {}).get("image/png", {}).get("width")
        if width:
            image_options["width"] = f"{width}px"
    return count


def collapse_reveals(nb) -> int:
    """Fold the output of hint and solution calls into a collapsed dropdown; return how many."""
    folded = 0
    for cell in nb.cells:
        if cell.cell_type == "code" and REVEALS.search(cell.source):
            tags = cell.metadata.setdefault("tags", [])
            if "hide-output" not in tags:
                tags.append("hide-output")
            folded += 1
    return folded


def drop_badges(nb) -> None:
    """The notebooks' own Binder/Colab badges: the page has launch buttons, and badges load from the web."""
    nb.cells = [c for c in nb.cells if not (c.cell_type == "markdown" and c.source.startswith(BADGES))]


def execute(path: Path) -> tuple[object, int]:
    nb = nbformat.read(path, as_version=4)
    drop_badges(nb)
    client = NotebookClient(
        nb, timeout=CELL_TIMEOUT, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOKS)}}
    )
    try:
        client.execute()
    except Exception as exc:  # a cell raised: report it as the learner would see it
        raise BuildError(f"{path.name}: the notebook failed while executing: {exc}".splitlines()[0]) from None
    problems = problems_in(nb)
    if problems:
        raise BuildError(f"{path.name}: the site must show a clean run, but:\n  " + "\n  ".join(problems))
    collapse_reveals(nb)
    return nb, describe_images(nb)


def write_toc(paths: list[Path]) -> None:
    lines = [
        "# Written by scripts/build_site.py from the notebooks' file names.",
        "format: jb-book",
        f"root: {paths[0].stem}",
        "chapters:",
    ]
    lines += [f"- file: {p.stem}" for p in paths[1:]]
    (SOURCE / "_toc.yml").write_text("\n".join(lines) + "\n")


def write_config() -> None:
    text = (CONFIG_DIR / "_config.yml").read_text()
    hub = os.environ.get("JUPYTERHUB_URL", "").strip()
    if hub:
        if not hub.startswith(("https://", "http://")):
            raise BuildError(f"JUPYTERHUB_URL must start with https:// (got {hub!r})")
        text = text.replace("https://your-hub.example.org", hub.rstrip("/"))
    (SOURCE / "_config.yml").write_text(text)
    shutil.copytree(CONFIG_DIR / "_static", SOURCE / "_static")


def build(jupyter_book: str) -> dict[str, int]:
    started = time.monotonic()
    # The notebooks' own checks are not a learner's: record none, and show an empty progress table.
    os.environ["ASYNCLAB_PROGRESS"] = "off"
    os.environ["ASYNCLAB_DATA_DIR"] = str(ROOT / "build" / "site-progress")  # never written: recording is off
    shutil.rmtree(SOURCE, ignore_errors=True)
    shutil.rmtree(OUTPUT, ignore_errors=True)
    SOURCE.mkdir(parents=True)
    paths = notebook_paths()
    images = {}
    for path in paths:
        t0 = time.monotonic()
        nb, images[path.stem] = execute(path)
        nbformat.write(nb, SOURCE / path.name)
        print(f"executed {path.name}: {images[path.stem]} diagrams, {time.monotonic() - t0:.1f} s", flush=True)
    write_toc(paths)
    write_config()
    (SOURCE / "images.json").write_text(json.dumps(images, indent=1) + "\n")
    # -W: any Sphinx warning (a broken cross-reference, a bad image option) fails the build.
    result = subprocess.run(
        [
            jupyter_book,
            "build",
            str(SOURCE),
            "--builder",
            "html",
            "-W",
            "-n",
            "--keep-going",
            "--path-output",
            str(SOURCE / "_out"),
        ],
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        sys.stderr.write(result.stdout[-6000:] + result.stderr[-4000:])
        raise BuildError("jupyter-book build failed (output above)")
    shutil.copytree(SOURCE / "_out" / "_build" / "html", OUTPUT)
    shutil.copy(SOURCE / "images.json", OUTPUT / "images.json")
    size = sum(f.stat().st_size for f in OUTPUT.rglob("*") if f.is_file())
    print(
        f"built {OUTPUT.relative_to(ROOT)}: {len(paths)} pages, {size / 1e6:.1f} MB, {time.monotonic() - started:.0f} s"
    )
    return images


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.parse_args()
    jupyter_book = shutil.which("jupyter-book", path=str(Path(sys.executable).parent))
    if jupyter_book is None:
        raise BuildError(
            "jupyter-book is not installed in this environment: "
            f"{sys.executable} -m pip install -r requirements-site.txt (or run: make site)"
        )
    build(jupyter_book)


if __name__ == "__main__":
    main()
