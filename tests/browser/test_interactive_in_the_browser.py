"""Checkpoints and explorables in JupyterLab, driven in headless Chromium.

- after Run All, an unanswered checkpoint's reveal shows the answer; picking a choice and running
  the reveal again says it was right;
- moving an explorable's slider redraws its diagram and figures in place; two quick moves leave the
  last one drawn, no error, and no run of the explorable still going;
- the stop button, pressed while an explorable runs, shows no error, and the slider still works.

The notebook is written into build/ for the run. Screenshots go to build/screenshots/.
"""

from __future__ import annotations

import time

import nbformat
import pytest
from checkout import NOTEBOOKS_DIR, ROOT
from labdriver import SCREENSHOTS_DIR, Lab
from test_magic_and_notebook7 import NotebookSeven, page, server_factory  # noqa: F401 (fixtures)

pytestmark = [pytest.mark.browser, pytest.mark.slow]

FIXTURE = ROOT / "build" / "browser-fixtures" / "interactive.ipynb"
CELLS = [
    f"import sys\nsys.path.insert(0, {str(NOTEBOOKS_DIR)!r})\nimport asyncio\n"
    "from asynclab.interactive import Checkpoint, explore",
    'question = Checkpoint("Three 0.1 s sleeps, one after another: how long?", ["about 0.1 s", "about 0.3 s"],\n'
    '                      answer=1, why="Each sleep starts when the last one ends.")\nquestion',
    "question.reveal()",
    "async def naps(n):\n"
    "    await asyncio.gather(*(asyncio.sleep(0.05 * (i + 1)) for i in range(n)))\n\n"
    "explorable = await explore(naps, n=(1, 10, 2))\nexplorable",
    "left = [t for t in asyncio.all_tasks() if t.get_name() == 'naps']\n"
    "print('explore runs left:', len(left), explorable.running)",
]
QUESTION, REVEAL, EXPLORE, LEFT = 1, 2, 3, 4
WAIT = 30  # s, for an output to change


def write_fixture() -> None:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(source) for source in CELLS]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    FIXTURE.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, FIXTURE)


def run_all(notebook):
    notebook.run_all_from_menu()
    state = notebook.wait_for_run_all()
    assert not state.errors, f"errors after Run All: {[out.text[-800:] for _, out in state.errors]}"
    return notebook


@pytest.fixture
def notebook(lab):
    write_fixture()
    return run_all(lab.open_from_file_browser(FIXTURE.relative_to(ROOT)))


def output_text(notebook, index: int) -> str:
    return "\n".join(out.text for out in notebook.state().cells[index].outputs)


def wait_for_text(notebook, index: int, text: str) -> str:
    deadline = time.monotonic() + WAIT
    while text not in (shown := output_text(notebook, index)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert text in shown, f"cell {index} does not show {text!r} after {WAIT} s: {shown[-1500:]!r}"
    return shown


def set_slider(notebook, value: int) -> None:
    """Type a value into the slider's readout and press Enter, as a learner may instead of dragging."""
    readout = notebook.cell(EXPLORE).locator(".widget-readout")
    readout.click()
    notebook.page.keyboard.press("Control+A")
    notebook.page.keyboard.type(str(value))
    notebook.page.keyboard.press("Enter")


def diagram_src(notebook) -> str:
    return notebook.cell(EXPLORE).locator(".widget-html img").last.get_attribute("src") or ""


def answer_and_reveal(notebook) -> None:
    wait_for_text(notebook, REVEAL, "The answer: about 0.3 s.")  # Run All: nothing picked
    cell = notebook.cell(QUESTION)
    cell.locator(".widget-toggle-button", has_text="about 0.3 s").click()
    notebook.run_cell(REVEAL)
    wait_for_text(notebook, REVEAL, "✔ Right: about 0.3 s.")
    cell.locator(".widget-toggle-button", has_text="about 0.1 s").click()
    notebook.run_cell(REVEAL)
    wait_for_text(notebook, REVEAL, "✘ Not about 0.1 s: the answer is about 0.3 s.")


def test_a_checkpoint_is_answered_and_revealed(notebook, notes):
    answer_and_reveal(notebook)
    notes.append("checkpoint: picked, revealed right and wrong in JupyterLab")


def test_a_checkpoint_in_notebook_7(server_factory, page, notes):  # noqa: F811 (fixtures)
    write_fixture()
    server = server_factory(app="notebook")
    page.goto(f"{server.url}/notebooks/{FIXTURE.relative_to(ROOT).as_posix()}?token={server.token}")
    notebook = NotebookSeven(Lab(page, server), FIXTURE)
    notebook.wait_until_open()
    answer_and_reveal(run_all(notebook))
    SCREENSHOTS_DIR.mkdir(parents=True, exist_ok=True)
    notebook.cell(QUESTION).screenshot(path=str(SCREENSHOTS_DIR / "interactive-checkpoint-notebook7.png"))
    notes.append("checkpoint: picked, revealed right and wrong in Notebook 7")


def test_a_lessons_checkpoints_and_explorable(lab, notes):
    """02 in JupyterLab: a checkpoint with diagram choices, and the explorable of `limit`."""
    path = NOTEBOOKS_DIR / "02_async_comprehensions.ipynb"
    notebook = run_all(lab.open_from_file_browser(path.relative_to(ROOT)))
    ids = [cell.id for cell in nbformat.read(path, as_version=4).cells]
    question, explorable = notebook.cell(ids.index("ask-guess_gather")), notebook.cell(ids.index("explore-limit"))
    question.scroll_into_view_if_needed()  # JupyterLab renders only the cells near the view
    assert question.locator(".widget-html img").count() == 3, "the diagram choices do not show"
    question.locator(".widget-toggle-button", has_text="B").click()
    notebook.run_cell(ids.index("reveal-guess_gather"))
    wait_for_text(notebook, ids.index("reveal-guess_gather"), "✔ Right: B.")
    explorable.scroll_into_view_if_needed()
    wait_for_text(notebook, ids.index("explore-limit"), "most in flight at the server: 3")
    SCREENSHOTS_DIR.mkdir(parents=True, exist_ok=True)
    question.screenshot(path=str(SCREENSHOTS_DIR / "interactive-checkpoint-02.png"))
    slider = explorable.locator(".widget-readout")
    slider.click()
    notebook.page.keyboard.press("Control+A")
    notebook.page.keyboard.type("8")
    notebook.page.keyboard.press("Enter")
    wait_for_text(notebook, ids.index("explore-limit"), "most in flight at the server: 8")
    assert not notebook.state().errors, [out.text[-800:] for _, out in notebook.state().errors]
    explorable.screenshot(path=str(SCREENSHOTS_DIR / "interactive-explore-02.png"))
    notes.append("02 in JupyterLab: diagram choices answered; limit moved from 3 to 8 and redrawn")


def test_moving_a_slider_redraws_the_diagram_in_place(notebook, notes):
    first = diagram_src(notebook)
    assert first.startswith("data:image/png;base64,"), first[:60]
    wait_for_text(notebook, EXPLORE, "tasks at once: 2")

    set_slider(notebook, 5)
    wait_for_text(notebook, EXPLORE, "tasks at once: 5")
    assert diagram_src(notebook) != first, "the diagram did not change with the slider"

    # Two moves in quick succession: the first run is cancelled, the last one is drawn.
    set_slider(notebook, 10)
    set_slider(notebook, 3)
    wait_for_text(notebook, EXPLORE, "tasks at once: 3")
    time.sleep(0.5)
    notebook.run_cell(LEFT)
    wait_for_text(notebook, LEFT, "explore runs left: 0 False")
    assert not notebook.state().errors, [out.text[-800:] for _, out in notebook.state().errors]

    SCREENSHOTS_DIR.mkdir(parents=True, exist_ok=True)
    notebook.cell(EXPLORE).screenshot(path=str(SCREENSHOTS_DIR / "interactive-explore.png"))
    notes.append("explorable: the slider redrew the diagram; a quick second move left no run behind")


def test_the_stop_button_during_a_run_shows_no_error(notebook, notes):
    set_slider(notebook, 10)  # half a second of sleeps
    time.sleep(0.1)
    notebook.panel.locator('jp-button[data-command="notebook:interrupt-kernel"]').click()
    notebook.wait_for_kernel_idle()
    time.sleep(1.0)
    assert not notebook.state().errors, [out.text[-800:] for _, out in notebook.state().errors]
    set_slider(notebook, 4)
    wait_for_text(notebook, EXPLORE, "tasks at once: 4")
    notes.append("explorable: after the stop button, the slider still redraws")
