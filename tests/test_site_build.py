"""scripts/build_site.py's checks on an executed notebook, without building a site."""

import importlib.util

import nbformat
from checkout import ROOT
from nbformat.v4 import new_code_cell, new_notebook, new_output

spec = importlib.util.spec_from_file_location("build_site", ROOT / "scripts" / "build_site.py")
build_site = importlib.util.module_from_spec(spec)
spec.loader.exec_module(build_site)

PNG = "iVBORw0KGgo="


def diagram_output(text):
    return new_output(
        "display_data",
        data={"image/png": PNG, "text/plain": text},
        metadata={"image/png": {"width": 500, "height": 100}},
    )


def test_error_and_stderr_outputs_are_reported_by_cell():
    nb = new_notebook(
        cells=[
            new_code_cell("print(1)", outputs=[new_output("stream", name="stdout", text="1\n")]),
            new_code_cell("warn()", outputs=[new_output("stream", name="stderr", text="UserWarning: careful\n")]),
            new_code_cell(
                "1/0", outputs=[new_output("error", ename="ZeroDivisionError", evalue="division by zero", traceback=[])]
            ),
        ]
    )
    assert build_site.problems_in(nb) == [
        "cell 2: stderr: UserWarning: careful",
        "cell 3: ZeroDivisionError: division by zero",
    ]


def test_clean_run_has_no_problems():
    nb = new_notebook(cells=[new_code_cell("print(1)", outputs=[new_output("stream", name="stdout", text="1\n")])])
    assert build_site.problems_in(nb) == []


def test_each_diagram_cell_gets_its_description_as_alt():
    nb = new_notebook(
        cells=[
            new_code_cell("tl.show()", outputs=[diagram_output("Timeline 'fetch': 3 tasks overlap for 0.2 s")]),
            new_code_cell("x = 1"),
        ]
    )
    assert build_site.describe_images(nb) == 1
    assert nb.cells[0].metadata["mystnb"]["image"]["alt"] == "Timeline 'fetch': 3 tasks overlap for 0.2 s"
    assert "mystnb" not in nb.cells[1].metadata
    nbformat.validate(nb)


def test_hint_and_solution_outputs_are_collapsed_and_commented_calls_left_alone():
    nb = new_notebook(
        cells=[new_code_cell("q1.hint()"), new_code_cell("# q1.solution()"), new_code_cell("q1.check(answer)")]
    )
    assert build_site.collapse_reveals(nb) == 1
    assert nb.cells[0].metadata["tags"] == ["hide-output"]
    assert "tags" not in nb.cells[1].metadata and "tags" not in nb.cells[2].metadata
