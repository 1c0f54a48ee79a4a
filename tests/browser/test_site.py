"""The reading edition (scripts/build_site.py, `make site`) checked in Chromium.

The site is built once for the module, from a fresh execution of the notebooks, then served on
127.0.0.1 and read page by page the way a reader's browser does.
"""

from __future__ import annotations

import functools
import http.server
import re
import subprocess
import sys
import threading
import time
from urllib.parse import unquote, urljoin, urlparse

import nbformat
import pytest
import yaml
from checkout import ROOT
from labdriver import SCREENSHOTS_DIR

SITE = ROOT / "build" / "site"
EXECUTED = ROOT / "build" / "site-src"
BUILD_TARGET = 180  # s, for one build on this machine when it is otherwise quiet (reported)...
BUILD_LIMIT = 3 * BUILD_TARGET  # ...and a bound only a hang or a real slowdown passes, with other tests running
SIZE_BUDGET = 25e6  # bytes
# matplotlib's repr of a figure: a text alternative must say what the diagram shows, not this.
PLACEHOLDER_ALT = re.compile(r"^<\w*Figure size \d+x\d+")
REVEALS = re.compile(r"^\s*\w+\.(hint|solution)\(", re.M)


def notebook_stems() -> list[str]:
    return [p.stem for p in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))]


def repository() -> str:
    config = yaml.safe_load((ROOT / "site" / "_config.yml").read_text())
    return urlparse(config["repository"]["url"]).path.strip("/")


@pytest.fixture(scope="module")
def built_site():
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "build_site.py")], capture_output=True, text=True, cwd=ROOT
    )
    seconds = time.monotonic() - started
    assert result.returncode == 0, f"the site build failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    size = sum(f.stat().st_size for f in SITE.rglob("*") if f.is_file())
    return {"seconds": seconds, "size": size}


@pytest.fixture(scope="module")
def site_url(built_site):
    handler = functools.partial(_QuietHandler, directory=str(SITE))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def site_page(browser, site_url):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(30_000)
    page = context.new_page()
    yield page
    context.close()


def open_page(page, url: str):
    response = page.goto(url, wait_until="load")
    assert response is not None and response.ok, f"{url}: {response.status if response else 'no response'}"
    page.wait_for_function("Array.from(document.images).every(i => i.complete)")
    return response


def pages() -> list[str]:
    return ["index.html", "search.html"] + [f"{stem}.html" for stem in notebook_stems()]


# A checkpoint's or an explorable's HTML form (asynclab/interactive.py): their pictures are choices
# and a run's diagram, not the notebook's image outputs.
INTERACTIVE = ".asynclab-checkpoint, .asynclab-explorable"


def interactive_outputs(stem: str, kind: str) -> int:
    """How many outputs of the executed notebook are a checkpoint's (or an explorable's) HTML form."""
    nb = nbformat.read(EXECUTED / f"{stem}.ipynb", as_version=4)
    return sum(
        f'class="asynclab-{kind}"' in o.get("data", {}).get("text/html", "")
        for c in nb.cells
        for o in c.get("outputs", [])
    )


def diagrams_drawn(stem: str) -> list:
    """The 1x width (output metadata, None where absent) of each diagram the executed notebook drew."""
    nb = nbformat.read(EXECUTED / f"{stem}.ipynb", as_version=4)
    return [
        o.get("metadata", {}).get("image/png", {}).get("width")
        for c in nb.cells
        for o in c.get("outputs", [])
        if "image/png" in o.get("data", {})
    ]


def test_build_is_within_time_and_size_budget(built_site, notes):
    notes.append(
        f"site: built in {built_site['seconds']:.0f} s (target {BUILD_TARGET} s on a quiet machine), "
        f"{built_site['size'] / 1e6:.1f} MB (limit {SIZE_BUDGET / 1e6:.0f} MB)"
    )
    assert built_site["seconds"] <= BUILD_LIMIT, f"build took {built_site['seconds']:.0f} s"
    assert built_site["size"] <= SIZE_BUDGET, f"site is {built_site['size'] / 1e6:.1f} MB"
    for stem in notebook_stems():
        assert (SITE / f"{stem}.html").is_file(), f"no page for {stem}"
    assert (SITE / "index.html").is_file()


@pytest.mark.parametrize("name", pages())
def test_page_loads_with_every_image_and_alt(site_page, site_url, name):
    open_page(site_page, site_url + name)
    images = site_page.eval_on_selector_all(
        "img", "els => els.map(i => ({src: i.currentSrc, w: i.naturalWidth, alt: i.getAttribute('alt')}))"
    )
    for image in images:
        assert image["w"] > 0, f"{name}: image did not load: {image['src']}"
        assert (image["alt"] or "").strip(), f"{name}: image without alt text: {image['src']}"


@pytest.mark.parametrize("stem", notebook_stems())
def test_page_shows_every_diagram_and_no_error(site_page, site_url, stem, notes):
    open_page(site_page, site_url + f"{stem}.html")
    widths = site_page.eval_on_selector_all(
        "div.cell_output img",
        f"els => els.filter(i => !i.closest('{INTERACTIVE}'))"
        ".map(i => i.getAttribute('width') || (i.style.width.match(/^(\\d+)px$/) || [])[1] || null)",
    )
    drawn = diagrams_drawn(stem)
    notes.append(f"site: {stem}.html shows {len(widths)} diagrams")
    assert len(widths) == len(drawn)
    # A 2x PNG carries its 1x size as width metadata: the page displays it at that size.
    assert [w for w, d in zip(widths, drawn) if d is not None] == [str(d) for d in drawn if d is not None]
    assert site_page.locator(".cell_output .output.stderr, .cell_output .output.traceback").count() == 0
    # Printed text appears as plain preformatted output, as in JupyterLab.
    assert site_page.locator(".cell_output .output.stream pre, .cell_output .output.text_plain pre").count() > 0


@pytest.mark.parametrize("stem", notebook_stems())
def test_hints_and_solutions_are_not_shown(site_page, site_url, stem):
    open_page(site_page, site_url + f"{stem}.html")
    nb = nbformat.read(EXECUTED / f"{stem}.ipynb", as_version=4)
    reveals = [c for c in nb.cells if c.cell_type == "code" and REVEALS.search(c.source)]
    folded = site_page.locator("div.cell.tag_hide-output")
    assert folded.count() == len(reveals)
    for i in range(folded.count()):
        output = folded.nth(i).locator(".cell_output")
        assert output.count() == 0 or not output.first.is_visible(), f"{stem}: hint/solution output shown"


# Two errors the book theme logs on every page, with or without checkpoints (Jupyter Book 1.x's
# pydata theme declares its Thebe URL twice, and reads an unset theme mode): not the page's own.
THEME_ERRORS = re.compile(r"Identifier 'THEBE_JS_URL' has already been declared|Got invalid theme mode")
SECTION_NOTEBOOKS = ("01_async_for", "02_async_comprehensions", "03_async_with", "04_async_pool")


@pytest.mark.parametrize("stem", SECTION_NOTEBOOKS)
def test_checkpoints_show_their_choices_with_the_answer_folded(site_page, site_url, stem):
    """No kernel on the page: each checkpoint lists its choices, and its answer waits in a closed <details>."""
    errors = []
    site_page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    site_page.on("pageerror", lambda error: errors.append(str(error)))
    open_page(site_page, site_url + f"{stem}.html")
    checkpoints = site_page.locator("div.cell_output .asynclab-checkpoint")
    assert checkpoints.count() == interactive_outputs(stem, "checkpoint") >= 3
    for i in range(checkpoints.count()):
        checkpoint = checkpoints.nth(i)
        assert checkpoint.is_visible()
        answer = checkpoint.locator("details")
        assert answer.count() == 1 and answer.get_attribute("open") is None
        assert not answer.locator("p").is_visible(), f"{stem}: checkpoint {i + 1} shows its answer"
        assert checkpoint.locator("li").count() + checkpoint.locator("img").count() >= 2  # the choices
    explorables = site_page.locator("div.cell_output .asynclab-explorable")
    assert explorables.count() == interactive_outputs(stem, "explorable") >= 1
    for i in range(explorables.count()):  # the default run's diagram, drawn when the notebook ran
        image = explorables.nth(i).locator("img")
        assert image.count() == 1 and image.evaluate("i => i.naturalWidth") > 0
        assert "widget" not in (image.get_attribute("alt") or "").lower()
    assert site_page.locator("script[src*='widget']").count() == 0  # nothing fetched for widgets
    errors = [e for e in errors if not THEME_ERRORS.search(e)]
    assert not errors, f"{stem}: console errors: {errors}"


# A diagram's text/plain is its Timeline.describe() account, which build_site.py makes the image's
# alt text; matplotlib's "<Figure size ...>" placeholder there would mean a diagram lost it.
@pytest.mark.parametrize("stem", notebook_stems())
def test_diagram_alt_says_what_it_shows(site_page, site_url, stem):
    open_page(site_page, site_url + f"{stem}.html")
    alts = site_page.eval_on_selector_all("div.cell_output img", "els => els.map(i => i.alt)")
    placeholders = [a for a in alts if PLACEHOLDER_ALT.match(a)]
    assert not placeholders, f"{stem}: {len(placeholders)} of {len(alts)} diagrams have only {placeholders[0]!r} as alt"


def test_no_internal_link_is_broken(site_page, site_url):
    checked: dict[str, str] = {}
    broken = []
    for name in pages():
        open_page(site_page, site_url + name)
        hrefs = site_page.eval_on_selector_all("a[href], link[href]", "els => els.map(e => e.href)")
        for href in hrefs:
            if not href.startswith(site_url):
                continue
            target, _, anchor = href.partition("#")
            if target not in checked:
                response = site_page.request.get(target)
                checked[target] = response.text() if response.ok else None
            body = checked[target]
            if body is None:
                broken.append(f"{name} -> {href}")
            elif anchor and target.endswith(".html") and f'id="{unquote(anchor)}"' not in body:
                broken.append(f"{name} -> {href} (no such anchor)")
    assert not broken, "broken links:\n" + "\n".join(broken)
    assert len(checked) > len(pages())


@pytest.mark.parametrize("stem", notebook_stems())
def test_launch_and_download_links_point_at_their_notebook(site_page, site_url, stem):
    open_page(site_page, site_url + f"{stem}.html")
    hrefs = site_page.eval_on_selector_all("a[href]", "els => els.map(e => e.href)")
    repo, path = repository(), f"notebooks/{stem}.ipynb"
    binder = [h for h in hrefs if h.startswith("https://mybinder.org/")]
    colab = [h for h in hrefs if h.startswith("https://colab.research.google.com/")]
    hub = [h for h in hrefs if "/hub/user-redirect/git-pull?" in h]
    assert binder == [f"https://mybinder.org/v2/gh/{repo}/main?urlpath=lab/tree/{path}"]
    assert colab == [f"https://colab.research.google.com/github/{repo}/blob/main/{path}"]
    assert len(hub) == 1 and f"urlpath=lab/tree/{repo.split('/')[1]}/{path}" in hub[0], hub
    assert f"repo=https%3A//github.com/{repo}" in hub[0]
    downloads = [h for h in hrefs if h.endswith(".ipynb") and h.startswith(site_url)]
    assert downloads and all(h.endswith(f"/{stem}.ipynb") for h in downloads), downloads
    assert site_page.request.get(downloads[0]).ok


def test_previous_next_contents_and_search(site_page, site_url):
    stems = notebook_stems()
    open_page(site_page, site_url + f"{stems[1]}.html")
    assert site_page.locator("a.left-prev").get_attribute("href") == f"{stems[0]}.html"
    assert site_page.locator("a.right-next").get_attribute("href") == f"{stems[2]}.html"
    toc = site_page.eval_on_selector_all("nav.bd-links a.reference", "els => els.map(e => e.getAttribute('href'))")
    chapters = [h for h in toc if h in {f"{s}.html" for s in stems}]
    assert chapters == [f"{s}.html" for s in stems if f"{s}.html" in chapters] and len(chapters) >= len(stems) - 1, toc
    open_page(site_page, site_url + "search.html?q=aiter")
    results = site_page.locator("#search-results ul.search li a")
    results.first.wait_for()
    targets = {
        urljoin(site_url, h).rsplit("/", 1)[-1].split("?")[0]
        for h in results.evaluate_all("els => els.map(e => e.getAttribute('href'))")
    }
    assert targets & {f"{s}.html" for s in stems}, targets


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_theme_keeps_diagrams_on_white(browser, site_url, theme, notes):
    context = browser.new_context(viewport={"width": 1280, "height": 900}, color_scheme=theme)
    page = context.new_page()
    try:
        stem = notebook_stems()[1]
        open_page(page, site_url + f"{stem}.html")
        page.wait_for_function(f"document.documentElement.dataset.theme === '{theme}'")
        body = page.evaluate("getComputedStyle(document.body).backgroundColor")
        diagram = page.locator("div.cell_output img").first
        diagram.scroll_into_view_if_needed()
        assert diagram.evaluate("i => getComputedStyle(i).backgroundColor") == "rgb(255, 255, 255)"
        assert diagram.evaluate("i => getComputedStyle(i).filter") == "none"
        assert (body == "rgb(255, 255, 255)") == (theme == "light"), body
        SCREENSHOTS_DIR.mkdir(parents=True, exist_ok=True)
        shot = SCREENSHOTS_DIR / f"site-{stem}-{theme}.png"
        page.screenshot(path=str(shot))
        notes.append(f"site: {theme} screenshot {shot.relative_to(ROOT)}")
    finally:
        context.close()
