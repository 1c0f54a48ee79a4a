"""Checks judge only what they ran: one exercise's wrong answer never shows up in another's verdict,
and nothing of a check warns later, in another cell's output.

The answers run one after another on one event loop, as cells do in a notebook kernel. A wrong
answer that hands ``asyncio.wait`` coroutines raises a TypeError whose traceback keeps them, in a
reference cycle with the judge's task: only the garbage collector frees them, whenever it next runs.
"""

import asyncio
import gc
import re
import warnings

import pytest
from asynclab.exercises import nb01, nb02, nb03
from asynclab.exercises.nb02 import download
from checkout import ROOT
from exercise_checks import assert_fails, assert_passes
from nbharness import execute_notebook

# What a learner must never read: the judges' files and the package's own paths.
INTERNAL = re.compile(r"asynclab[/\\]|exercises[/\\]|trial\.py|probes\.py|core\.py|nb0\d\.py")


async def fetch_in_order_wait_on_coroutines(urls):  # nb02 q1, wrong: asyncio.wait takes tasks
    done, _ = await asyncio.wait([download(url) for url in urls])
    return [task.result() for task in done]


async def fetch_in_order_drops_a_coroutine(urls):  # nb02 q1, wrong: one download never awaited
    download(urls[0])
    return await asyncio.gather(*(download(url) for url in urls))


async def download_stream(urls, limit):  # nb02 q3, right: the lesson's Semaphore + TaskGroup
    semaphore = asyncio.Semaphore(limit)

    async def download_one(url):
        async with semaphore:
            return await download(url)

    async with asyncio.TaskGroup() as tg:
        tasks = [tg.create_task(download_one(url)) async for url in urls]
    return [task.result() for task in tasks]


def test_a_wrong_answer_never_fails_the_next_exercises_right_answer():
    async def main():
        verdicts = []
        for _ in range(20):
            wrong = await nb02.q1.check(fetch_in_order_wait_on_coroutines, show=False)
            right = await nb02.q3.check(download_stream, show=False)
            verdicts.append((wrong, right))
        return verdicts

    for wrong, right in asyncio.run(main()):
        assert_fails(wrong, "Passing coroutines is forbidden")
        assert_passes(right)


def test_nothing_of_a_check_warns_after_it_and_no_message_shows_internal_paths(capfd):
    async def one(exercise, answer):
        result = await exercise.check(answer, show=False)
        with warnings.catch_warnings(record=True) as later:
            warnings.simplefilter("always")
            gc.collect()  # whatever the check left for the collector warns now, if anything
        return result, later

    wrong_answers = [
        (nb02.q1, fetch_in_order_wait_on_coroutines, "Passing coroutines is forbidden"),
        (nb02.q1, fetch_in_order_drops_a_coroutine, "was created but never awaited"),
        (nb01.q2, nb01.q2.reference, None),  # right answers too
        (nb03.q1, nb03.q1.reference, None),
    ]

    async def main():
        return [(await one(exercise, answer), words) for exercise, answer, words in wrong_answers]

    for (result, later), words in asyncio.run(main()):
        if words:
            assert_fails(result, words)
        assert not INTERNAL.search(result.message), result.message
        assert [str(w.message) for w in later] == []
    assert capfd.readouterr().err == ""


COLAB_PYTHON = ROOT / ".venv-colab" / "bin" / "python"


@pytest.mark.parametrize(
    "python",
    [
        pytest.param(None, id="this-venv"),
        pytest.param(
            COLAB_PYTHON,
            id="colab-ipython-7.34",
            marks=pytest.mark.skipif(not COLAB_PYTHON.exists(), reason="no Colab-like stack: make .venv-colab/.test"),
        ),
    ],
)
def test_in_a_kernel_a_wrong_answer_leaves_nothing_for_later_cells(python):
    """The notebook case: the cells after a wrong answer's check show nothing of it."""
    import nbformat

    notebooks = ROOT / "notebooks"
    cells = [
        "import asyncio, gc\nfrom asynclab.exercises.nb02 import q1, q3, download",
        "async def fetch_in_order(urls):\n"
        "    done, _ = await asyncio.wait([download(url) for url in urls])\n"
        "    return [task.result() for task in done]\n"
        "await q1.check()",
        "async def download_stream(urls, limit):\n"
        "    semaphore = asyncio.Semaphore(limit)\n"
        "    async def download_one(url):\n"
        "        async with semaphore:\n"
        "            return await download(url)\n"
        "    async with asyncio.TaskGroup() as tg:\n"
        "        tasks = [tg.create_task(download_one(url)) async for url in urls]\n"
        "    return [task.result() for task in tasks]\n"
        "await q3.check()",
        "gc.collect()\nprint('collected')",
    ]
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    execute_notebook(nb, notebooks, allow_errors=True, python=str(python) if python else None)

    def text(cell):
        return "".join(o.get("text", "") + o.get("data", {}).get("text/plain", "") for o in cell.outputs)

    stderr_or_errors = [
        o
        for cell in nb.cells
        for o in cell.outputs
        if o.output_type == "error" or (o.output_type == "stream" and o.name == "stderr")
    ]
    assert stderr_or_errors == []
    assert "Passing coroutines is forbidden" in text(nb.cells[1])
    assert "✔ Correct!" in text(nb.cells[2])
    assert text(nb.cells[3]).strip() == "collected"
    for cell in nb.cells:
        assert not INTERNAL.search(text(cell)), text(cell)
