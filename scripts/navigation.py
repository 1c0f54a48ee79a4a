#!/usr/bin/env python3
"""Write the navigation cells of every notebook and the index in 00_start_here.

Each notebook starts and ends with a markdown cell beginning ``<!--NAVIGATION-->``: links to the
previous notebook, the contents and the next one. ``00_start_here`` has a cell beginning
``<!--INDEX-->``: a table of the notebooks, built from each notebook's title cell (its ``# heading``
and the first sentence under it). Run after adding or renaming a notebook; ``--check`` only reports.
"""

import sys
from pathlib import Path

import nbformat

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
NAV, INDEX = "<!--NAVIGATION-->", "<!--INDEX-->"


def title_and_summary(nb):
    for cell in nb.cells:
        if cell.cell_type == "markdown" and cell.source.lstrip().startswith("# "):
            lines = [l.strip() for l in cell.source.strip().splitlines()]
            title = lines[0][2:].strip()
            summary = next((l for l in lines[1:] if l and not l.startswith(("#", "<!--"))), "")
            return title, summary.split(". ")[0].rstrip(".") + "."
    raise SystemExit(f"{nb.metadata.get('name', '?')}: no '# title' markdown cell")


def navigation(paths, titles, i):
    parts = []
    if i > 0:
        parts.append(f"< [{titles[i - 1]}]({paths[i - 1].name})")
    if i != 0:
        parts.append(f"[Contents]({paths[0].name})")
    if i + 1 < len(paths):
        parts.append(f"[{titles[i + 1]}]({paths[i + 1].name}) >")
    return NAV + "\n" + " | ".join(parts)


def index(paths, titles, summaries):
    rows = ["| | Notebook | What you will learn |", "|---|---|---|"]
    for path, title, summary in zip(paths[1:], titles[1:], summaries[1:]):
        rows.append(f"| {path.stem[:2]} | [{title}]({path.name}) | {summary} |")
    return INDEX + "\n" + "\n".join(rows)


def set_marked_cells(nb, marker, text, positions):
    """Replace the cells starting with marker; add them at the given positions where missing."""
    marked = [i for i, c in enumerate(nb.cells) if c.cell_type == "markdown" and c.source.startswith(marker)]
    for i in marked:
        nb.cells[i].source = text
    if not marked:
        for position in positions:
            cell = nbformat.v4.new_markdown_cell(text)
            nb.cells.insert(position if position >= 0 else len(nb.cells), cell)


def main(check=False):
    paths = sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
    nbs = [nbformat.read(p, as_version=4) for p in paths]
    titles, summaries = zip(*(title_and_summary(nb) for nb in nbs))
    stale = []
    for i, (path, nb) in enumerate(zip(paths, nbs)):
        before = nbformat.writes(nb)
        set_marked_cells(nb, NAV, navigation(paths, titles, i), positions=[0, -1])
        if i == 0:
            set_marked_cells(nb, INDEX, index(paths, titles, summaries), positions=[])
        after = nbformat.writes(nb)
        if after != before:
            stale.append(path.name)
            if not check:
                path.write_text(after)
    if check and stale:
        print("navigation out of date in: " + ", ".join(stale) + " (run scripts/navigation.py)")
        return 1
    print(("checked " if check else "updated ") + f"{len(paths)} notebooks" + (f"; rewrote {stale}" if stale and not check else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main(check="--check" in sys.argv))
