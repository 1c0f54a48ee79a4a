"""The learner's view: the notebooks in JupyterLab, driven in headless Chromium.

- every notebook opens from the file browser and Run All (Run menu) finishes with no error shown,
  and every cell that draws a timing diagram shows it;
- a running timing diagram refreshes live;
- the toolbar's stop button stops a cell that awaits inside ``async with``, and the cleanup runs;
- in the dark theme, the diagram keeps its own light, opaque background.

Screenshots go to build/screenshots/.
"""

from __future__ import annotations

import base64
import io
import statistics
import time

import pytest
from checkout import NOTEBOOKS_DIR, ROOT
from labdriver import SCREENSHOTS_DIR, displays_timeline
from PIL import Image

pytestmark = [pytest.mark.browser, pytest.mark.slow]

FIXTURES = (ROOT / "tests" / "browser" / "fixtures").relative_to(ROOT)
NOTEBOOKS = sorted(NOTEBOOKS_DIR.glob("[0-9][0-9]_*.ipynb"))  # the lessons, not scratch files

STOP_LIMIT = 2.0  # s, from pressing stop to the cell's prompt showing it ended
STOP_FIXTURE_SLEEP = 20  # s, the fixture cell's sleep: a cell that ends on its own takes this long


def broken_images(notebook) -> list[str]:
    return notebook.panel.evaluate("""(panel) => Array.from(panel.querySelectorAll('.jp-OutputArea-output img'))
        .filter((img) => !(img.complete && img.naturalWidth > 0))
        .map((img) => (img.getAttribute('src') || '').slice(0, 60))""")


def diagram_cell(notebook) -> int:
    return next(i for i, source in enumerate(notebook.sources) if source and displays_timeline(source))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.stem)
def test_run_all_from_the_menu(lab, path, notes):
    notebook = lab.open_from_file_browser(path.relative_to(ROOT))
    started = time.monotonic()
    notebook.run_all_from_menu()
    state = notebook.wait_for_run_all()
    took = time.monotonic() - started
    notebook.screenshot(SCREENSHOTS_DIR / f"{path.stem}-light.png")
    diagrams = sum(1 for cell in state.cells if cell.images)
    notes.append(
        f"{path.stem}: Run All took {took:.1f} s; cells showing an image: {diagrams}; "
        f"error outputs: {len(state.errors)}"
    )

    errors = [f"cell {cell.index}: {out.text.strip()[-1500:]}" for cell, out in state.errors]
    assert not errors, f"{path.name} shows error output after Run All:\n" + "\n\n".join(errors)
    unfinished = notebook.unfinished(state)
    assert not unfinished, f"{path.name}: cells {unfinished} did not run\n{state.describe()}"
    no_diagram = [
        i
        for i, source in enumerate(notebook.sources)
        if source and displays_timeline(source) and not state.cells[i].images
    ]
    assert not no_diagram, f"{path.name}: cells {no_diagram} call Timeline(...) but show no image\n{state.describe()}"
    assert not broken_images(notebook), f"{path.name}: images that did not load: {broken_images(notebook)}"


# Records, every 40 ms in the page itself, each new image source of one cell and whether the cell
# was still running, so no refresh is missed between two round trips to the browser.
WATCH_IMAGES_JS = """
(cell) => {
  const log = [];
  let last = null;
  const timer = setInterval(() => {
    const img = cell.querySelector('.jp-OutputArea-output img');
    const src = img ? img.getAttribute('src') : null;
    const running = (cell.querySelector('.jp-InputArea-prompt')?.textContent || '').includes('*');
    const key = `${running}|${src}`;
    if (key !== last) {
      last = key;
      log.push({t: performance.now(), running, src});
    }
  }, 40);
  cell.__imageLog = log;
  cell.__stopImageLog = () => clearInterval(timer);
}
"""


def test_timeline_refreshes_while_the_cell_runs(lab, notes):
    notebook = lab.open_from_file_browser(FIXTURES / "live_timeline.ipynb")
    index = diagram_cell(notebook)
    diagram = notebook.cell(index)
    diagram.evaluate(WATCH_IMAGES_JS)
    notebook.run_all_from_menu()
    state = notebook.wait_for_run_all()
    log = diagram.evaluate("(cell) => { cell.__stopImageLog(); return cell.__imageLog; }")

    assert not state.errors, f"errors: {[out.text[-800:] for _, out in state.errors]}"
    while_running = [entry["src"] for entry in log if entry["running"] and entry["src"]]
    distinct = list(dict.fromkeys(while_running))
    changes = max(len(distinct) - 1, 0)
    notes.append(f"live refresh: the diagram changed {changes} times while its cell ran")
    assert changes >= 2, (
        f"the diagram changed {changes} times while the cell ran (want at least 2): "
        f"{len(distinct)} different images seen while it ran, at "
        f"{[round(entry['t'] - log[0]['t']) for entry in log]} ms"
    )
    assert state.cells[index].images, "no diagram after the cell finished"


# ipykernel 7.4 cancels an awaiting cell from a SIGINT handler that only schedules the cancellation,
# which a loop blocked in select() does not see until its next timer (upstream: jupyterlab#12194,
# ipykernel#881). Importing asynclab points signal.set_wakeup_fd at the kernel loop's self-pipe, so
# the interrupt wakes the loop at once (asynclab/kernel.py); the fixture imports it as lessons do.


def test_stop_button_stops_an_awaiting_cell_and_cleanup_runs(lab, notes):
    notebook = lab.open_from_file_browser(FIXTURES / "stop_button.ipynb")
    index = next(i for i, source in enumerate(notebook.sources) if source and "async with" in source)
    notebook.run_cell(index)
    notebook.cell(index).locator(".jp-OutputArea-output", has_text="sleeping for").wait_for()
    time.sleep(0.5)  # well inside the sleep

    notebook.panel.locator('jp-button[data-command="notebook:interrupt-kernel"]').click()
    pressed = time.monotonic()
    deadline = pressed + STOP_FIXTURE_SLEEP + 15
    while notebook.state().cells[index].running and time.monotonic() < deadline:
        time.sleep(0.05)
    took = time.monotonic() - pressed
    notebook.wait_for_kernel_idle()
    time.sleep(0.5)  # outputs that arrive with the reply
    cell = notebook.state().cells[index]
    SCREENSHOTS_DIR.mkdir(parents=True, exist_ok=True)
    notebook.cell(index).screenshot(path=str(SCREENSHOTS_DIR / "stop_button-light.png"))

    text = "\n".join(out.text for out in cell.outputs)
    printed = "\n".join(out.text for out in cell.outputs if out.mime == "application/vnd.jupyter.stdout")
    shown = [name for name in ("KeyboardInterrupt", "CancelledError") if name in text]
    facts = (
        f"prompt {cell.prompt!r} {took:.2f} s after pressing stop; "
        f"exception shown: {shown or 'none'}; printed: {printed.strip()!r}"
    )
    notes.append(
        f"stop button: the cell ended {took:.2f} s after pressing stop (limit {STOP_LIMIT} s); "
        f"shown: {', '.join(shown) or 'no exception'}; "
        f"cleanup {'ran' if 'cleanup ran' in printed else 'did NOT run'}"
    )
    assert not cell.running, f"the cell was still running {took:.0f} s after pressing stop; {facts}"
    assert "the sleep finished" not in printed, f"the sleep ran to its end: {facts}"
    assert "cleanup ran" in printed, f"the async context manager's cleanup did not run: {facts}"
    assert shown, f"neither KeyboardInterrupt nor CancelledError is shown: {facts}\n{text[-1500:]}"
    assert took < STOP_LIMIT, f"the cell stopped {took:.2f} s after pressing stop (limit {STOP_LIMIT} s); {facts}"


def test_diagram_is_readable_in_the_dark_theme(lab, lab_server, notes):
    try:
        lab.switch_theme_from_menu("JupyterLab Dark")
        assert lab.theme.get("jpThemeLight") == "false", lab.theme
        notebook = lab.open_from_file_browser(FIXTURES / "live_timeline.ipynb")
        notebook.run_all_from_menu()
        state = notebook.wait_for_run_all()
        assert not state.errors, f"errors: {[out.text[-800:] for _, out in state.errors]}"
        index = diagram_cell(notebook)
        assert state.cells[index].images, "the diagram cell shows no image"

        img = notebook.cell(index).locator(".jp-OutputArea-output img").last
        img.scroll_into_view_if_needed()
        lab.page.wait_for_timeout(300)
        box = img.bounding_box()
        margin = 24  # of page around the diagram, to compare with
        clip = {
            "x": max(box["x"] - margin, 0),
            "y": max(box["y"] - margin, 0),
            "width": box["width"] + 2 * margin,
            "height": box["height"] + 2 * margin,
        }
        path = SCREENSHOTS_DIR / f"{notebook.name}-dark.png"
        SCREENSHOTS_DIR.mkdir(parents=True, exist_ok=True)
        lab.page.screenshot(path=str(path), clip=clip)
        shot = Image.open(path)
        src = img.get_attribute("src") or ""
    finally:
        lab_server.set_theme("JupyterLab Light")  # the other tests expect the default theme

    # Pixels of the screenshot: the page in the margin around the diagram, and the diagram's own
    # border (its background) and content.
    left, top = int(box["x"] - clip["x"]), int(box["y"] - clip["y"])
    right, bottom = left + int(box["width"]), top + int(box["height"])
    gray = shot.convert("L")
    around = [
        gray.getpixel((x, y))
        for y in range(gray.height)
        for x in range(gray.width)
        if not (left - 2 <= x <= right + 2 and top - 2 <= y <= bottom + 2)
    ]
    inset = 4
    border = [
        gray.getpixel((x, y))
        for x, y in [
            (left + inset, top + inset),
            (right - inset, top + inset),
            (left + inset, bottom - inset),
            (right - inset, bottom - inset),
            ((left + right) // 2, top + inset),
            ((left + right) // 2, bottom - inset),
        ]
    ]
    darkest = gray.crop((left, top, right, bottom)).getextrema()[0]

    notes.append(
        f"dark theme: page around the diagram {statistics.median(around):.0f}/255, "
        f"diagram background {min(border)}/255 or lighter, darkest ink {darkest}/255"
    )
    assert statistics.median(around) < 80, f"the page around the diagram is not dark (see {path})"
    assert min(border) > 200, f"the diagram's background is not light in the dark theme: {border} (see {path})"
    assert darkest < 120, f"the diagram shows nothing dark on its light background (darkest {darkest}, see {path})"

    # The image itself must be opaque: a transparent PNG would show the dark page through it.
    if src.startswith("data:image/png;base64,"):
        picture = Image.open(io.BytesIO(base64.b64decode(src.split(",", 1)[1])))
        if picture.mode in ("RGBA", "LA", "PA") or "transparency" in picture.info:
            alpha = picture.convert("RGBA").getchannel("A")
            corners = [alpha.getpixel((x, y)) for x in (0, picture.width - 1) for y in (0, picture.height - 1)]
            assert min(corners) == 255, f"the diagram's PNG has a transparent background: alpha {corners}"
