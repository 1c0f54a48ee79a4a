"""Beyond the lessons in JupyterLab: the %%timeline magic, Jupyter Notebook 7, a first launch.

- a ``%%timeline`` cell shows its timing diagram in JupyterLab;
- a lesson's Run All in Notebook 7 (``jupyter notebook``) finishes with no error and its diagrams;
- a first launch of JupyterLab (no user settings at all) shows no "get notified about Jupyter
  news?" prompt: the settings overrides that `make lab` and Binder install switch it off.
"""

from __future__ import annotations

import time

import pytest
from checkout import NOTEBOOKS_DIR, ROOT
from conftest import ACTION_TIMEOUT
from labdriver import PAGE_TIMEOUT, SCREENSHOTS_DIR, Lab, LabServer, Notebook, displays_timeline

pytestmark = [pytest.mark.browser, pytest.mark.slow]

FIXTURES = (ROOT / "tests" / "browser" / "fixtures").relative_to(ROOT)
NOTEBOOK7_LESSON = NOTEBOOKS_DIR / "00_start_here.ipynb"
NEWS_PROMPT = "official Jupyter news"
NEWS_SETTINGS = "/lab/api/settings/@jupyterlab/apputils-extension:notification"


def test_timeline_magic_shows_its_diagram(lab, notes):
    notebook = lab.open_from_file_browser(FIXTURES / "timeline_magic.ipynb")
    index = next(i for i, source in enumerate(notebook.sources) if source and source.startswith("%%timeline"))
    notebook.run_all_from_menu()
    state = notebook.wait_for_run_all()
    notebook.screenshot(SCREENSHOTS_DIR / "timeline_magic-light.png")
    assert not state.errors, f"errors: {[out.text[-800:] for _, out in state.errors]}"
    assert not notebook.unfinished(state), state.describe()
    assert state.cells[index].images, f"the %%timeline cell shows no diagram\n{state.describe()}"
    printed = " ".join(out.text for out in state.cells[index + 1].outputs)
    notes.append(f"%%timeline in JupyterLab: {printed.strip()}")
    assert "3 at once" in printed, printed


@pytest.fixture
def server_factory(chromium_path, tmp_path):
    servers = []

    def start(**options) -> LabServer:
        server = LabServer(tmp_path / f"server-{len(servers)}", **options)
        server.workdir.mkdir()
        servers.append(server)
        server.start()
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    context.set_default_timeout(ACTION_TIMEOUT)
    yield context.new_page()
    context.close()


class NotebookSeven(Notebook):
    """A notebook opened in Notebook 7: one notebook per browser tab, no dock panel."""

    def wait_until_open(self) -> None:
        deadline = time.monotonic() + PAGE_TIMEOUT
        while len(self.state().cells) < len(self.sources) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert len(self.state().cells) == len(self.sources), self.state().describe()
        self.wait_for_kernel_idle()


def test_run_all_in_notebook_7(server_factory, page, notes):
    server = server_factory(app="notebook")
    relpath = NOTEBOOK7_LESSON.relative_to(ROOT).as_posix()
    page.goto(f"{server.url}/notebooks/{relpath}?token={server.token}", timeout=PAGE_TIMEOUT * 1000)
    notebook = NotebookSeven(Lab(page, server), NOTEBOOK7_LESSON)
    notebook.wait_until_open()
    started = time.monotonic()
    notebook.run_all_from_menu()
    state = notebook.wait_for_run_all()
    took = time.monotonic() - started
    notebook.screenshot(SCREENSHOTS_DIR / f"{NOTEBOOK7_LESSON.stem}-notebook7.png")
    version = server.api("GET", "/api/status") and page.evaluate(
        "() => JSON.parse(document.getElementById('jupyter-config-data').textContent).appVersion"
    )
    diagrams = [i for i, source in enumerate(notebook.sources) if source and displays_timeline(source)]
    missing = [i for i in diagrams if not state.cells[i].images]
    notes.append(
        f"Notebook {version}: {NOTEBOOK7_LESSON.stem} Run All took {took:.1f} s; "
        f"diagrams shown {len(diagrams) - len(missing)}/{len(diagrams)}; errors {len(state.errors)}"
    )
    errors = [f"cell {cell.index}: {out.text.strip()[-1500:]}" for cell, out in state.errors]
    assert not errors, "Notebook 7 shows error output after Run All:\n" + "\n\n".join(errors)
    assert not notebook.unfinished(state), state.describe()
    assert diagrams and not missing, f"cells {missing} show no diagram\n{state.describe()}"


def test_first_launch_shows_no_news_prompt(server_factory, page, notes):
    server = server_factory(user_settings={})  # a first launch: no user settings at all
    page.goto(f"{server.url}/lab?reset&token={server.token}", timeout=PAGE_TIMEOUT * 1000)
    page.locator(".jp-DirListing-item").first.wait_for(timeout=PAGE_TIMEOUT * 1000)
    # JupyterLab asks a few seconds after it loads; give it well more than that.
    page.wait_for_timeout(8000)
    prompts = page.get_by_text(NEWS_PROMPT).count()
    # Overrides become the schema's defaults; the user settings stay empty.
    default = server.api("GET", NEWS_SETTINGS)["schema"]["properties"]["fetchNews"]["default"]
    notes.append(f"first launch: news prompts shown {prompts}; fetchNews defaults to {default!r}")
    assert default == "false", (
        f"the settings overrides are not installed in this environment (fetchNews: {default!r}); "
        "`make .venv/.runtime` installs binder/lab-overrides.json"
    )
    assert prompts == 0, "the news prompt covers the first lesson"
