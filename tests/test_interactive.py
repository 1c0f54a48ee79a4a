"""Checkpoints and explorables: picks and verdicts, re-runs that cancel the previous one, the HTML fallback.

The unit tests drive the widgets by setting their values, as a frontend does, inside asyncio.run();
the kernel tests show them in a real kernel (this venv's ipywidgets 8, and Colab's 7.7 when built).
The last tests read the lessons: every section notebook has an explorable, introduced in the cell
before it.
"""

import ast
import asyncio
import base64

import ipywidgets
import nbformat
import pytest
from asynclab.interactive import Checkpoint, explore, sketch
from checkout import NOTEBOOKS_DIR, ROOT
from nbharness import execute_notebook

COLAB_PYTHON = ROOT / ".venv-colab" / "bin" / "python"  # `make .venv-colab/.test`
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


def speed_question():
    return Checkpoint(
        "How long do three 0.1 s fetches take in one comprehension?",
        ["about 0.1 s", "about 0.3 s", "about 0.6 s"],
        answer="about 0.3 s",
        why="A comprehension awaits each fetch before starting the next.",
    )


# --- checkpoints ------------------------------------------------------------------------------


def test_a_checkpoint_starts_with_nothing_picked_and_reveals_the_answer():
    question = speed_question()
    assert question.buttons.index is None and question.picked is None
    verdict = question.reveal()
    assert verdict.right is None
    assert repr(verdict) == "The answer: about 0.3 s. A comprehension awaits each fetch before starting the next."


def test_the_right_pick_is_confirmed_and_a_wrong_one_corrected():
    question = speed_question()
    question.buttons.value = "about 0.3 s"
    verdict = question.reveal()
    assert verdict.right is True and repr(verdict).startswith("✔ Right: about 0.3 s.")
    question.buttons.value = "about 0.1 s"
    verdict = question.reveal()
    assert verdict.right is False
    assert repr(verdict).startswith("✘ Not about 0.1 s: the answer is about 0.3 s.")
    assert "awaits each fetch" in verdict._repr_html_()


def test_reveal_never_needs_the_widget():
    question = speed_question()  # never shown: Run All in a frontend without widgets
    assert question.reveal().right is None and question._buttons is None


def test_the_html_fallback_lists_the_choices_and_folds_the_answer():
    page = speed_question()._repr_html_()
    assert page.count("<li>") == 3
    before, folded = page.split("<details>")
    assert "about 0.6 s" in before and "awaits each fetch" not in before
    assert "about 0.3 s" in folded and "awaits each fetch" in folded and "</details>" in folded
    bundle = speed_question()._repr_mimebundle_()
    assert WIDGET_VIEW not in bundle and "<details>" in bundle["text/html"]  # no kernel here


def test_diagram_choices_become_lettered_thumbnails():
    one_by_one = sketch({"a": [(0, 0.1)], "b": [(0.1, 0.2)]}, "one after another")
    together = sketch({"a": [(0, 0.1)], "b": [(0, 0.1)]})
    assert one_by_one.startswith(b"\x89PNG")
    question = Checkpoint("Which will it draw?", [one_by_one, together], answer=0, why="Each waits for the last.")
    assert question.labels == ["A", "B"]
    question.buttons.value = "B"
    assert repr(question.reveal()).startswith("✘ Not B: the answer is A.")
    page = question._repr_html_()
    assert page.count("<img ") == 2 and "<details>" in page
    assert base64.b64encode(together).decode() in page


@pytest.mark.parametrize(
    ("choices", "answer"), [(["only one"], 0), (["a", "b", "c", "d", "e"], 0), (["a", "b"], "c"), (["a", "b"], 2)]
)
def test_a_malformed_checkpoint_is_refused_when_written(choices, answer):
    with pytest.raises(ValueError):
        Checkpoint("?", choices, answer, "")


# --- explorables ------------------------------------------------------------------------------


def test_moving_a_slider_twice_cancels_the_first_run_and_draws_the_second():
    started, cancelled = [], []

    async def gather_sleeps(limit):
        started.append(limit)
        try:
            await asyncio.gather(*(asyncio.sleep(0.05) for _ in range(limit)))
        except asyncio.CancelledError:
            cancelled.append(limit)
            raise
        return {"limit seen": limit}

    async def main():
        explorable = await explore(gather_sleeps, limit=(1, 10, 3))  # the first render, with the default
        first = (explorable.png, dict(explorable.figures))
        box = explorable._widget(ipywidgets)
        slider = explorable.sliders["limit"]
        assert isinstance(slider, ipywidgets.IntSlider) and slider.value == 3
        slider.value = 5
        await asyncio.sleep(0.01)  # the run with 5 is under way
        slider.value = 7
        await explorable.wait()
        pending = asyncio.all_tasks() - {asyncio.current_task()}
        return explorable, box, first, pending

    explorable, box, (first_png, first_figures), pending = asyncio.run(main())
    assert started == [3, 5, 7] and cancelled == [5]
    assert not pending
    assert first_figures["limit seen"] == 3 and first_figures["tasks at once"] == 3
    assert explorable.figures["limit seen"] == 7 and explorable.figures["tasks at once"] == 7
    assert explorable.runs == 2 and explorable.png != first_png
    text, image = box.children[1], box.children[2]
    assert "limit seen: 7" in text.value and "tasks at once: 7" in text.value
    assert base64.b64encode(explorable.png).decode() in image.value


def test_a_run_that_raises_shows_the_error_and_keeps_the_controls():
    async def failing(limit):
        raise ValueError(f"no {limit}")

    async def main():
        explorable = await explore(failing, limit=(1, 3, 2))
        return explorable, asyncio.all_tasks() - {asyncio.current_task()}

    explorable, pending = asyncio.run(main())
    assert explorable.figures == {"error": "ValueError: no 2"} and not pending
    assert "ValueError: no 2" in explorable._repr_html_()


def test_float_controls_and_bad_ranges():
    async def nap(seconds):
        await asyncio.sleep(seconds)

    async def main():
        return await explore(nap, seconds=(0.0, 0.05, 0.01))

    explorable = asyncio.run(main())
    assert explorable.runs == 1 and "seconds = 0.01" in explorable._repr_html_() and "<img " in explorable._repr_html_()
    assert isinstance(explorable._widget(ipywidgets).children[0].children[0], ipywidgets.FloatSlider)
    with pytest.raises(ValueError):
        explore(nap, seconds=(1, 2, 3))
    with pytest.raises(ValueError):
        explore(nap)


# --- in a real kernel -------------------------------------------------------------------------

KERNEL_CELLS = {
    "setup": (
        "import asyncio\nfrom asynclab.interactive import Checkpoint, explore, sketch\n"
        "question = Checkpoint('Which?', [sketch({'a': [(0, 1)]}), sketch({'a': [(1, 2)]})], answer=1, why='Later.')"
    ),
    "show": "question",
    "pick": "question.buttons.value = 'B'\nquestion.reveal()",
    "explore": (
        "async def naps(n):\n    await asyncio.gather(*(asyncio.sleep(0.02) for _ in range(n)))\n"
        "explorable = await explore(naps, n=(1, 4, 2))\nexplorable"
    ),
    "move": (
        "explorable.sliders['n'].value = 3\nawait asyncio.sleep(0)\nexplorable.sliders['n'].value = 4\n"
        "await explorable.wait()\n"
        "left = [t for t in asyncio.all_tasks() if t.get_name() == 'naps']\n"
        "print(explorable.figures['tasks at once'], explorable.running, len(left))"
    ),
}


def kernels():
    yield pytest.param(None, id="this-venv")
    reason = f"no Colab-like stack at {COLAB_PYTHON}: build it with `make .venv-colab/.test` (needs Python 3.13)"
    yield pytest.param(
        COLAB_PYTHON, id="colab-ipywidgets-7.7", marks=pytest.mark.skipif(not COLAB_PYTHON.exists(), reason=reason)
    )


@pytest.mark.parametrize("python", list(kernels()))
def test_checkpoints_and_explorables_show_as_widgets_in_a_kernel(python):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(source) for source in KERNEL_CELLS.values()]
    execute_notebook(nb, NOTEBOOKS_DIR, python=str(python) if python else None)
    cells = dict(zip(KERNEL_CELLS, nb.cells))
    for cell in nb.cells:
        assert not [o for o in cell.outputs if o.output_type == "error" or o.get("name") == "stderr"], cell.outputs

    (shown,) = cells["show"].outputs
    assert WIDGET_VIEW in shown.data and "<details>" in shown.data["text/html"]
    (verdict,) = cells["pick"].outputs
    assert verdict.data["text/plain"].startswith("✔ Right: B.")
    (explorable,) = cells["explore"].outputs
    assert WIDGET_VIEW in explorable.data and "<img " in explorable.data["text/html"]
    assert cells["move"].outputs[0].text.split() == ["4", "False", "0"]  # the last run drawn, no run left behind


# --- in the lessons ---------------------------------------------------------------------------

SECTION_NOTEBOOKS = ("01_async_for", "02_async_comprehensions", "03_async_with", "04_async_pool")


def explorables_in(cell_source: str) -> list[ast.Call]:
    """The ``await explore(run, name=(low, high, start))`` calls of a cell, ``run`` defined in it."""
    if "explore(" not in cell_source:
        return []
    source = "\n".join("" if line.lstrip().startswith(("%", "!")) else line for line in cell_source.splitlines())
    tree = compile(source, "<cell>", "exec", flags=ast.PyCF_ONLY_AST | ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    defined = {node.name for node in tree.body if isinstance(node, ast.AsyncFunctionDef)}
    return [
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Await)
        and isinstance(node.value, ast.Call)
        and getattr(node.value.func, "id", None) == "explore"
        and [getattr(arg, "id", None) for arg in node.value.args] in [[name] for name in defined]
        and node.value.keywords
        and all(isinstance(k.value, ast.Tuple) and len(k.value.elts) in (3, 4) for k in node.value.keywords)
    ]


@pytest.mark.parametrize("stem", SECTION_NOTEBOOKS)
def test_every_section_notebook_has_an_explorable_with_its_introduction(stem):
    cells = nbformat.read(NOTEBOOKS_DIR / f"{stem}.ipynb", as_version=4).cells
    found = [(n, cell) for n, cell in enumerate(cells) if cell.cell_type == "code" and explorables_in(cell.source)]
    assert found, f"{stem} has no `await explore(run, name=(low, high, start))` cell"
    for n, cell in found:
        assert cell.id.startswith("explore-"), (
            f"{stem} cell {n}: an explorable's id starts with explore-, not {cell.id}"
        )
        intro = cells[n - 1]
        assert intro.cell_type == "markdown" and intro.get("id") == f"{cell.id}-intro", (
            f"{stem} cell {n}: the cell before an explorable is its introduction, {cell.id}-intro"
        )
        assert "slider" in intro.source, f"{stem} cell {n}: the introduction says what the slider does"
        for call in explorables_in(cell.source):
            unnamed = [k.arg for k in call.keywords if k.arg not in intro.source]
            assert not unnamed, f"{stem} cell {n}: the introduction does not name the control(s) {unnamed}"
