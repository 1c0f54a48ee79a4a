"""Fixtures for the browser tests: one JupyterLab server and one Chromium for the whole session,
a fresh browser page (and a clean kernel list) for every test.

The tests drive Debian's Chromium (Playwright cannot download its own browser here); without it
they skip and say how to install it.
"""

from __future__ import annotations

import re

import pytest

try:
    from playwright.sync_api import sync_playwright
except ImportError:
    sync_playwright = None

from labdriver import CHROMIUM_ARGS, SCREENSHOTS_DIR, Lab, LabServer, chromium_executable

ACTION_TIMEOUT = 30_000  # ms, for a click or a wait on one element
# What the tests measured, printed at the end of the run. Each test's lines travel in its report
# (user_properties), so the run's summary has them from every test worker (pytest -n).
NOTES: list[str] = []


def pytest_sessionstart(session):
    if not hasattr(session.config, "workerinput"):  # once per run: not in each test worker
        for stale in SCREENSHOTS_DIR.glob("FAILED-*.png"):  # from an earlier run
            stale.unlink()


def pytest_runtest_logreport(report):
    if report.when == "teardown":
        NOTES.extend(value for name, value in report.user_properties if name == "browser_note")


def pytest_terminal_summary(terminalreporter):
    if not NOTES:
        return
    screenshots = sorted(SCREENSHOTS_DIR.glob("*.png"))
    terminalreporter.section("browser tests")
    for note in NOTES:
        terminalreporter.write_line(note)
    terminalreporter.write_line(f"screenshots in {SCREENSHOTS_DIR}: " + ", ".join(p.name for p in screenshots))


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    # Lets the `lab` fixture know whether its test failed, to keep a screenshot of the page.
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"report_{report.when}", report)


@pytest.fixture(scope="session")
def chromium_path() -> str:
    if sync_playwright is None:
        pytest.skip("playwright is not installed: pip install -r requirements-test.txt")
    path = chromium_executable()
    if path is None:
        pytest.skip(
            "Chromium not installed: run scripts/install_chromium.sh "
            "(installs Debian's chromium with apt-get), then run the tests again"
        )
    return path


@pytest.fixture(scope="session")
def lab_server(chromium_path, tmp_path_factory):
    server = LabServer(tmp_path_factory.mktemp("jupyter-lab"))
    try:
        server.start()
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def browser(chromium_path):
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def notes(request):
    """Append a line to show it in the run's closing summary."""
    lines: list[str] = []
    yield lines
    request.node.user_properties.extend(("browser_note", line) for line in lines)


@pytest.fixture
def lab(browser, lab_server, request):
    """JupyterLab freshly loaded in a new page; kernels are shut down afterwards."""
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    context.set_default_timeout(ACTION_TIMEOUT)
    page = context.new_page()
    lab = Lab(page, lab_server)
    try:
        lab.open()
        yield lab
    finally:
        failed = any(
            getattr(getattr(request.node, f"report_{when}", None), "failed", False) for when in ("setup", "call")
        )
        if failed:
            name = re.sub(r"[^\w.-]+", "_", request.node.name)
            SCREENSHOTS_DIR.mkdir(parents=True, exist_ok=True)
            try:
                page.screenshot(path=str(SCREENSHOTS_DIR / f"FAILED-{name}.png"))
            except Exception:  # the page may be gone; the failure itself is reported anyway
                pass
        context.close()
        lab_server.shut_down_kernels()
