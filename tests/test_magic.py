"""%%timeline in a real kernel: on this venv's IPython, and on Colab's IPython 7.34 when built."""

import base64
import json
import re
import time

import nbformat
import pytest
from checkout import NOTEBOOKS_DIR, ROOT
from nbharness import execute_notebook

# One test worker runs the whole module: each stack's kernel starts once (module fixtures).
pytestmark = pytest.mark.xdist_group("magic")

# `make .venv-colab/.test` builds it from tests/stacks/colab-requirements.txt on Python 3.13.
COLAB_PYTHON = ROOT / ".venv-colab" / "bin" / "python"

CELLS = {
    "load": "%load_ext asynclab\nimport asyncio, time",
    "sleeps": (
        '%%timeline -o tl "three sleeps"\n'
        "started = time.perf_counter()\n"
        "await asyncio.gather(*(asyncio.sleep(0.2) for _ in range(3)))\n"
        "elapsed = time.perf_counter() - started"
    ),
    "after": (
        "print(elapsed, sum(s.duration for s in tl.spans if s.label == 'sleep'),"
        " tl.max_concurrency('sleep'), type(tl).__name__)"
    ),
    "string": '%%timeline --no-live\ntext = """first\n  second"""\nawait asyncio.sleep(0)',
    "string_after": "print(repr(text))",
    "async_for": (
        "%%timeline\nasync def count():\n    for i in range(3):\n"
        "        await asyncio.sleep(0.01)\n        yield i\n"
        "seen = [i async for i in count()]\nasync for i in count():\n    last = i"
    ),
    "async_for_after": "print(seen, last)",
    "magics_inside": "%%timeline\n%time q = 1\ny = (1 +\n     2)\nz = 1 + \\\n  2",
    "magics_inside_after": "print(q, y, z)",
    # Notes the rows of every diagram drawn from here on: lane labels top to bottom, and the group names.
    "group_spy": (
        "import asynclab.timeline.recorder as recorder\n"
        "drawn, plot = [], recorder.Timeline.plot\n"
        "def spy(self, *args, **kwargs):\n"
        "    figure = plot(self, *args, **kwargs)\n"
        "    ax = figure.axes[0]\n"
        "    lanes = [t.get_text() for t in ax.texts if t.get_gid() == 'lane label']\n"
        "    drawn.append((lanes, [t.get_text() for t in ax.texts if t.get_gid() != 'lane label']))\n"
        "    return figure\n"
        "recorder.Timeline.plot = spy"
    ),
    "group": (
        "%%timeline --group \"{lane: 'even' if lane[-1] in '02468' else 'odd' for lane in names}\"\n"
        "tasks = [asyncio.create_task(asyncio.sleep(0.01), name=f'n{i}') for i in range(4)]\n"
        "names = [t.get_name() for t in tasks]\nawait asyncio.gather(*tasks)"
    ),
    "group_after": "import json\nprint(json.dumps(drawn[-1]))\nrecorder.Timeline.plot = plot",
    "error": "%%timeline\nbefore_error = 1\nraise ValueError('learner error')",
    "error_after": "print(before_error)",
    "error_grouped": "%%timeline --group defined_later\nraise KeyError('first')\ndefined_later = {}",
    "line_magic": "%timeline",
    "unknown": "%%timeline --bogus\nawait asyncio.sleep(0)",
    "empty": "%%timeline -o t2\n# nothing yet\n",
    "two_titles": "%%timeline three sleeps\nawait asyncio.sleep(0)",
    "bad_group": "%%timeline --group no_such_name\nawait asyncio.sleep(0)",
}


def run_cells(python=None):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(source) for source in CELLS.values()]
    execute_notebook(nb, NOTEBOOKS_DIR, allow_errors=True, python=str(python) if python else None)
    return dict(zip(CELLS, nb.cells))


def text_of(cell):
    parts = []
    for output in cell.outputs:
        if output.output_type == "stream":
            parts.append(output.text)
        elif output.output_type == "error":
            parts.append(f"{output.ename}: {output.evalue}")
    return "".join(parts)


def pngs(cell):
    return [
        base64.b64decode(o.data["image/png"])
        for o in cell.outputs
        if o.output_type in ("display_data", "update_display_data") and "image/png" in o.get("data", {})
    ]


def errors(cell):
    return [o for o in cell.outputs if o.output_type == "error"]


def stacks():
    yield pytest.param(None, id="this-venv")
    reason = f"no Colab-like stack at {COLAB_PYTHON}: build it with `make .venv-colab/.test` (needs Python 3.13)"
    yield pytest.param(
        COLAB_PYTHON, id="colab-ipython-7.34", marks=pytest.mark.skipif(not COLAB_PYTHON.exists(), reason=reason)
    )


@pytest.fixture(scope="module", params=list(stacks()))
def cells_python(request):
    return request.param


@pytest.fixture(scope="module")
def cells(cells_python):
    started = time.perf_counter()
    result = run_cells(cells_python)
    print(f"\n%%timeline cells ({cells_python or 'this venv'}): {time.perf_counter() - started:.1f} s")
    return result


def test_three_concurrent_sleeps_draw_a_diagram_in_well_under_their_sum(cells):
    cell = cells["sleeps"]
    assert not errors(cell), text_of(cell)
    images = pngs(cell)
    assert images and all(png.startswith(b"\x89PNG") for png in images)
    elapsed, slept, concurrency, kind = text_of(cells["after"]).split()
    # Overlapped: each sleep lasted about the whole cell, so together about three times as long.
    assert float(elapsed) < 0.6 * float(slept), "the three sleeps did not overlap on the kernel's loop"
    assert (concurrency, kind) == ("3", "Timeline")  # -o tl kept the recorded Timeline


def test_cell_text_is_kept_exactly_and_its_variables_stay_defined(cells):
    assert not errors(cells["string"])
    assert text_of(cells["string_after"]).strip() == repr("first\n  second")
    assert not errors(cells["async_for"]), text_of(cells["async_for"])
    assert text_of(cells["async_for_after"]).strip() == "[0, 1, 2] 2"
    assert not errors(cells["magics_inside"]), text_of(cells["magics_inside"])
    assert text_of(cells["magics_inside_after"]).strip() == "1 3 3"


def test_group_is_evaluated_after_the_cell(cells):
    cell = cells["group"]
    assert not errors(cell), text_of(cell)
    assert pngs(cell)
    rows, texts = json.loads(text_of(cells["group_after"]))
    assert rows[0].endswith("(block)")  # in no group: stays first
    assert rows[1:] == ["n0", "n2", "n1", "n3"]  # the even lanes together, then the odd ones
    assert {"even", "odd"} <= set(texts)  # each group is named beside its lanes


def test_an_error_in_the_cell_shows_the_learners_error_and_line(cells):
    [error] = errors(cells["error"])
    assert (error.ename, error.evalue) == ("ValueError", "learner error")
    traceback = re.sub(r"\x1b\[[0-9;]*m", "", "\n".join(error.traceback))
    assert "----> 3 raise ValueError('learner error')" in traceback  # the learner's line, numbered
    assert "asynclab" not in traceback.split("raise ValueError")[-1]  # no frame of ours below it
    assert pngs(cells["error"]), "the diagram of what ran before the error is still drawn"
    assert text_of(cells["error_after"]).strip() == "1"
    # A --group the failed cell never defined does not hide the cell's own error.
    [error] = errors(cells["error_grouped"])
    assert error.ename == "KeyError" and pngs(cells["error_grouped"])


@pytest.mark.parametrize(
    "name, message",
    [
        ("line_magic", "%timeline is a cell magic"),
        ("unknown", "unknown option '--bogus'"),
        ("empty", "the cell is empty"),
        ("two_titles", "one title only; put it in quotes"),
        ("bad_group", "--group no_such_name: NameError"),
    ],
)
def test_misuse_gets_a_usage_message_without_a_traceback(cells, name, message):
    cell = cells[name]
    assert not errors(cell)  # IPython prints a UsageError as a message, not as a traceback
    [stream] = cell.outputs
    assert stream.name == "stderr" and stream.text.startswith("UsageError: ")
    assert message in stream.text
    assert "usage: %%timeline" in stream.text
    assert "Traceback" not in stream.text


def test_the_stop_button_stops_a_timeline_cell_as_any_cell(cells_python):
    from jupyter_client.manager import KernelManager

    class OnThatPython(KernelManager):
        def format_kernel_cmd(self, extra_arguments=None):
            cmd = super().format_kernel_cmd(extra_arguments)
            return [str(cells_python), *cmd[1:]] if cells_python else cmd

    manager = OnThatPython(kernel_name="python3")
    manager.start_kernel(cwd=str(NOTEBOOKS_DIR))
    client = manager.client()
    client.start_channels()
    try:
        client.wait_for_ready(timeout=60)
        client.execute_interactive("%load_ext asynclab\nimport asyncio", timeout=60)
        msg_id = client.execute("%%timeline --no-live\nbefore_stop = 1\nawait asyncio.sleep(30)\nafter_stop = 1")
        time.sleep(1.5)
        pressed = time.perf_counter()
        manager.interrupt_kernel()
        reply = client.get_shell_msg(timeout=20)
        took = time.perf_counter() - pressed
        assert reply["parent_header"]["msg_id"] == msg_id
        assert reply["content"]["status"] == "error"
        assert reply["content"]["ename"] in ("KeyboardInterrupt", "CancelledError")
        assert took < 10, f"the cell stopped {took:.1f} s after the interrupt"
        # Read back through the shell channel: ipykernel 6.17 may send the next cell's printed
        # output after an interrupt under the interrupted cell's header (plain cells alike).
        # ipykernel aborts requests that arrive just after an error (a plain cell's too): retry.
        for _ in range(10):
            check = client.execute("", user_expressions={"v": "(before_stop, 'after_stop' in globals())"})
            reply = client.get_shell_msg(timeout=30)
            assert reply["parent_header"]["msg_id"] == check
            if reply["content"]["status"] != "aborted":
                break
            time.sleep(0.2)
        assert "user_expressions" in reply["content"], reply["content"]
        assert reply["content"]["user_expressions"]["v"]["data"]["text/plain"] == "(1, False)"
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)
