#!/usr/bin/env python3
"""Write the navigation cells of every notebook and the index in 00_start_here.

Each notebook starts and ends with a markdown cell beginning ``<!--NAVIGATION-->``: links to the
previous notebook, the contents and the next one. ``00_start_here`` has a cell beginning
``<!--INDEX-->``: a table of the notebooks, built from each notebook's title cell (its ``# heading``
and the first sentence under it), and under it a code cell showing the learner's progress through
each notebook's exercises (``asynclab.progress()``). Run after adding or renaming a notebook;
``--check`` only reports.

It also writes what ties each notebook to the repository, so that a notebook opened alone (Colab,
a download) still runs: under the title a ``<!--BADGES-->`` cell (Open in Binder, Open in Colab) and
the first code cell, which installs asynclab from the repository when it is not importable. Both,
and the README's badges, JupyterHub link and install commands, come from ``REPOSITORY``: a fork
changes that line and runs this script.
"""

import re
import sys
from urllib.parse import quote

import nbformat
from checkout import ROOT  # this folder is on the path when the script runs

NOTEBOOKS = ROOT / "notebooks"
README = ROOT / "README.md"
NAV, INDEX, BADGES = "<!--NAVIGATION-->", "<!--INDEX-->", "<!--BADGES-->"

REPOSITORY = "asynclab/asynclab"  # owner/name on GitHub: the badges and the install line point here
BRANCH = "main"
INSTALL_URL = f"git+https://github.com/{REPOSITORY}"
INSTALL_MARK = "# Opened outside the repository (Colab, a download)? Then install the helpers first."
INSTALL_CELL = f"""{INSTALL_MARK}
try:
    import asynclab
except ModuleNotFoundError:
    %pip install --quiet "asynclab @ {INSTALL_URL}"
    import asynclab"""


# Under the index: the learner's progress, read from their record (asynclab/progress_log.py).
PROGRESS_MARK = "# Your progress through each notebook's exercises"
PROGRESS_CELL = f"""{PROGRESS_MARK}: solved, tried, not started, hints and solutions used.
# Kept between sessions; run this cell again to see it updated.
asynclab.progress()"""


def title_and_summary(nb):
    for cell in nb.cells:
        if cell.cell_type == "markdown" and cell.source.lstrip().startswith("# "):
            lines = [line.strip() for line in cell.source.strip().splitlines()]
            title = lines[0][2:].strip()
            summary = next((line for line in lines[1:] if line and not line.startswith(("#", "<!--"))), "")
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


def badges(path):
    """Markdown for the two badges that open this notebook on Binder and on Colab."""
    in_repo = path.relative_to(ROOT).as_posix()
    binder = f"https://mybinder.org/v2/gh/{REPOSITORY}/HEAD?urlpath=" + quote(f"lab/tree/{in_repo}", safe="")
    colab = f"https://colab.research.google.com/github/{REPOSITORY}/blob/{BRANCH}/{in_repo}"
    return (
        f"[![Launch on Binder](https://mybinder.org/badge_logo.svg)]({binder}) "
        f"[![Open in Colab](https://colab.research.google.com/assets/colab-badge.svg)]({colab})"
    )


def title_position(nb):
    return next(i for i, c in enumerate(nb.cells) if c.cell_type == "markdown" and c.source.lstrip().startswith("# "))


def set_marked_cells(nb, marker, text, positions, cell_type="markdown"):
    """Replace the cells starting with marker; add them at the given positions where missing."""
    marked = [i for i, c in enumerate(nb.cells) if c.cell_type == cell_type and c.source.startswith(marker)]
    for i in marked:
        nb.cells[i].source = text
    if not marked:
        new_cell = nbformat.v4.new_markdown_cell if cell_type == "markdown" else nbformat.v4.new_code_cell
        for position in positions:
            nb.cells.insert(position if position >= 0 else len(nb.cells), new_cell(text))


HUB_LINK_START = "https://YOUR-HUB/hub/user-redirect/git-pull?"


def hub_link():
    """The nbgitpuller link a JupyterHub gives learners: clone REPOSITORY, open the start page."""
    name = REPOSITORY.split("/")[1]  # nbgitpuller clones into a folder named after the repository
    return (
        HUB_LINK_START
        + "repo="
        + quote(f"https://github.com/{REPOSITORY}", safe="")
        + f"&branch={BRANCH}&urlpath="
        + quote(f"lab/tree/{name}/notebooks/00_start_here.ipynb", safe="")
    )


def readme_with_badges(text):
    """The README with its badge line (the one starting with the Binder badge), its nbgitpuller link
    and its install commands pointing at REPOSITORY."""
    lines = text.splitlines(keepends=True)
    at = next(i for i, line in enumerate(lines) if line.startswith("[![Launch on Binder]"))
    lines[at] = badges(NOTEBOOKS / "00_start_here.ipynb") + "\n"
    at = next(i for i, line in enumerate(lines) if line.lstrip().startswith("`" + HUB_LINK_START))
    indent = lines[at][: len(lines[at]) - len(lines[at].lstrip())]
    lines[at] = f"{indent}`{hub_link()}`\n"
    return re.sub(r'"asynclab @ git\+https://github\.com/[^"]*"', f'"asynclab @ {INSTALL_URL}"', "".join(lines))


def notebook_paths():
    """The collection's notebooks, in reading order."""
    return sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))


def main(check=False):
    paths = notebook_paths()
    nbs = [nbformat.read(p, as_version=4) for p in paths]
    titles, summaries = zip(*(title_and_summary(nb) for nb in nbs))
    stale = []
    for i, (path, nb) in enumerate(zip(paths, nbs)):
        before = path.read_text()
        set_marked_cells(nb, NAV, navigation(paths, titles, i), positions=[0, -1])
        if i == 0:
            set_marked_cells(nb, INDEX, index(paths, titles, summaries), positions=[])
            below_index = next(i for i, c in enumerate(nb.cells) if c.source.startswith(INDEX)) + 1
            set_marked_cells(nb, PROGRESS_MARK, PROGRESS_CELL, positions=[below_index], cell_type="code")
        set_marked_cells(nb, BADGES, BADGES + "\n" + badges(path), positions=[title_position(nb) + 1])
        set_marked_cells(nb, INSTALL_MARK, INSTALL_CELL, positions=[title_position(nb) + 2], cell_type="code")
        after = nbformat.writes(nb) + "\n"  # as nbformat.write ends a file
        if after != before:
            stale.append(path.name)
            if not check:
                path.write_text(after)
    readme = README.read_text()
    if readme_with_badges(readme) != readme:
        stale.append(README.name)
        if not check:
            README.write_text(readme_with_badges(readme))
    if check and stale:
        print("navigation out of date in: " + ", ".join(stale) + " (run scripts/navigation.py)")
        return 1
    print(
        ("checked " if check else "updated ")
        + f"{len(paths)} notebooks"
        + (f"; rewrote {stale}" if stale and not check else "")
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(check="--check" in sys.argv))
