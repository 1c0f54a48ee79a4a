"""Drive JupyterLab in a real browser the way a learner does.

``LabServer`` starts ``jupyter lab`` headless on 127.0.0.1 with a random port and token and its own
throw-away settings. ``Lab`` wraps one browser page showing it; ``Notebook`` is one open notebook in
that page. The helpers only click, type and read the page: every check a learner can do by looking
(prompts, outputs, images, theme) is read back from the DOM.
"""

from __future__ import annotations

import ast
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import nbformat
from checkout import ROOT, free_port

try:
    from playwright.sync_api import Error as PlaywrightError
except ImportError:  # conftest.py skips the tests and says why
    PlaywrightError = Exception

SCREENSHOTS_DIR = ROOT / "build" / "screenshots"

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--disable-quic",
]

LAB_START_TIMEOUT = 90  # s, for `jupyter lab` to answer on its port
PAGE_TIMEOUT = 60  # s, for the JupyterLab page to load and a notebook to open
KERNEL_TIMEOUT = 60  # s, for a new kernel to become idle
RUN_ALL_TIMEOUT = 150  # s, a notebook's Run All (about 45 s expected, 2 busy shared cores)

# Settings a developer's own JupyterLab could differ in, pinned for the tests. Autosave is off and
# the server refuses every save (see SERVER_CONFIG): running a notebook must never write it back.
USER_SETTINGS = {
    "@jupyterlab/apputils-extension/notification": {"fetchNews": "false", "checkForUpdates": False},
    "@jupyterlab/docmanager-extension/plugin": {"autosave": False},
    "@jupyterlab/apputils-extension/themes": {"theme": "JupyterLab Light"},
}

SERVER_CONFIG = '''\
from tornado.web import HTTPError


def refuse_save(model, path, contents_manager, **kwargs):
    """The browser tests run the repository's notebooks: they must never write them back."""
    raise HTTPError(403, f"the browser tests never save files (tried to save {path})")


c.ContentsManager.pre_save_hook = refuse_save
'''


class LabServer:
    """``jupyter lab`` on 127.0.0.1 serving ROOT, configured only from a temporary directory.

    ``app="notebook"`` runs Jupyter Notebook 7 instead; ``user_settings`` replaces USER_SETTINGS
    (e.g. without the news setting, to see what a first launch shows).
    """

    APPS: ClassVar[dict[str, tuple[str, str]]] = {
        "lab": ("jupyterlab", "LabApp"),
        "notebook": ("notebook", "JupyterNotebookApp"),
    }

    def __init__(self, workdir: Path, root: Path = ROOT, app: str = "lab", user_settings: dict | None = None):
        self.workdir = workdir
        self.root = root
        self.module, self.app_class = self.APPS[app]
        self.user_settings = USER_SETTINGS if user_settings is None else user_settings
        self.token = secrets.token_hex(24)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = workdir / "jupyter-lab.log"
        self.process: subprocess.Popen | None = None

    def environment(self) -> dict[str, str]:
        dirs = {name: self.workdir / name for name in ("config", "data", "runtime", "ipython")}
        for path in dirs.values():
            path.mkdir(parents=True, exist_ok=True)
        (dirs["config"] / "jupyter_server_config.py").write_text(SERVER_CONFIG)
        env = {
            k: v
            for k, v in os.environ.items()
            if k
            not in {
                "JUPYTER_PATH",
                "JUPYTER_CONFIG_PATH",
                "JUPYTERLAB_SETTINGS_DIR",
                "JUPYTERLAB_WORKSPACES_DIR",
                "PYTHONSTARTUP",
            }
        }
        env.update(
            JUPYTER_CONFIG_DIR=str(dirs["config"]),
            JUPYTER_DATA_DIR=str(dirs["data"]),
            JUPYTER_RUNTIME_DIR=str(dirs["runtime"]),
            IPYTHONDIR=str(dirs["ipython"]),
            PYTHONUNBUFFERED="1",
        )
        return env

    def write_user_settings(self) -> Path:
        settings_dir = self.workdir / "lab-user-settings"
        for plugin, values in self.user_settings.items():
            path = settings_dir / f"{plugin}.jupyterlab-settings"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(values, indent=2))
        return settings_dir

    def start(self) -> None:
        settings_dir = self.write_user_settings()
        command = [
            sys.executable,
            "-m",
            self.module,
            "--no-browser",
            "--ServerApp.open_browser=False",
            "--ServerApp.ip=127.0.0.1",
            f"--ServerApp.port={self.port}",
            "--ServerApp.port_retries=0",
            f"--IdentityProvider.token={self.token}",
            f"--ServerApp.root_dir={self.root}",
            "--allow-root",
            *(["--LabApp.extension_manager=readonly"] if self.module == "jupyterlab" else []),
            f"--{self.app_class}.user_settings_dir={settings_dir}",
            f"--{self.app_class}.workspaces_dir={self.workdir / 'lab-workspaces'}",
            # JupyterLab checkpoints every file it opens: keep those copies out of the repository.
            f"--FileCheckpoints.checkpoint_dir={self.workdir / 'checkpoints'}",
        ]
        env = self.environment()
        # On a new machine matplotlib's first import builds its font cache and says so on stderr,
        # which a notebook would show as error output: build it now, with the kernels' environment.
        subprocess.run(
            [sys.executable, "-c", "import matplotlib.font_manager"],
            env=env,
            cwd=self.root,
            check=True,
            capture_output=True,
            timeout=300,
        )
        log = self.log_path.open("w")
        self.process = subprocess.Popen(
            command, cwd=self.root, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )
        log.close()
        deadline = time.monotonic() + LAB_START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"jupyter lab exited with code {self.process.returncode}:\n{self.log_tail()}")
            try:
                self.api("GET", "/api/status")
                return
            except OSError:
                time.sleep(0.3)
        raise RuntimeError(f"jupyter lab did not answer within {LAB_START_TIMEOUT} s:\n{self.log_tail()}")

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()  # the server shuts its kernels down on SIGTERM
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def api(self, method: str, path: str, body=None, timeout: float = 30):
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            self.url + path,
            data=data,
            method=method,
            headers={"Authorization": f"token {self.token}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=timeout) as response:
            payload = response.read()
        return json.loads(payload) if payload else None

    def shut_down_kernels(self) -> None:
        """Shut down every session and kernel, so memory does not pile up between tests."""
        for kind in ("sessions", "kernels"):
            for item in self.api("GET", f"/api/{kind}"):
                try:
                    self.api("DELETE", f"/api/{kind}/{item['id']}", timeout=60)
                except urllib.error.HTTPError as error:
                    if error.code != 404:  # 404: gone already, with its session
                        raise

    def set_theme(self, theme: str) -> None:
        """Set the theme through the settings REST API (used to undo a test's theme switch)."""
        raw = json.dumps({**USER_SETTINGS["@jupyterlab/apputils-extension/themes"], "theme": theme})
        self.api("PUT", "/lab/api/settings/@jupyterlab/apputils-extension:themes", {"raw": raw})


def chromium_executable() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


# --- what the notebook page shows ----------------------------------------------------------------

# Read every cell's prompt and outputs from the page in one round trip.
CELLS_JS = """
(panel) => {
  const indicator = panel.querySelector('.jp-Notebook-ExecutionIndicator');
  const cells = Array.from(panel.querySelectorAll('.jp-Notebook .jp-Cell'));
  return {
    kernel: indicator ? indicator.getAttribute('data-status') : null,
    cells: cells.map((cell) => ({
      kind: cell.classList.contains('jp-CodeCell') ? 'code'
          : cell.classList.contains('jp-MarkdownCell') ? 'markdown' : 'raw',
      prompt: (cell.querySelector('.jp-InputArea-prompt')?.textContent || '').trim(),
      outputs: Array.from(cell.querySelectorAll('.jp-OutputArea-output')).map((out) => ({
        mime: out.getAttribute('data-mime-type') || '',
        text: (out.textContent || '').slice(0, 3000),
        images: Array.from(out.querySelectorAll('img')).map((img) => (img.getAttribute('src') || '').slice(0, 40)),
      })),
    })),
  };
}
"""

ERROR_MIME = "application/vnd.jupyter.stderr"  # JupyterLab shows both stderr and tracebacks with it
EXECUTED = re.compile(r"^\[\d+\]:?$")


@dataclass
class Output:
    mime: str
    text: str
    images: list[str]

    @property
    def is_error(self) -> bool:
        return self.mime == ERROR_MIME or "Traceback (most recent call last)" in self.text


@dataclass
class Cell:
    index: int
    kind: str
    prompt: str
    outputs: list[Output] = field(default_factory=list)

    @property
    def running(self) -> bool:
        return "*" in self.prompt

    @property
    def executed(self) -> bool:
        return bool(EXECUTED.match(self.prompt.replace(" ", "")))

    @property
    def images(self) -> list[str]:
        return [src for out in self.outputs for src in out.images]

    @property
    def errors(self) -> list[Output]:
        return [out for out in self.outputs if out.is_error]


@dataclass
class PageState:
    kernel: str | None
    cells: list[Cell]

    @classmethod
    def from_js(cls, raw: dict) -> PageState:
        cells = [
            Cell(i, c["kind"], c["prompt"], [Output(**o) for o in c["outputs"]]) for i, c in enumerate(raw["cells"])
        ]
        return cls(raw["kernel"], cells)

    @property
    def running(self) -> list[Cell]:
        return [cell for cell in self.cells if cell.running]

    @property
    def errors(self) -> list[tuple[Cell, Output]]:
        return [(cell, out) for cell in self.cells for out in cell.errors]

    def describe(self) -> str:
        lines = [f"kernel: {self.kernel}"]
        for cell in self.cells:
            if cell.kind == "code":
                kinds = ", ".join(o.mime for o in cell.outputs) or "no output"
                lines.append(f"  cell {cell.index}: {cell.prompt or '(no prompt)'} {kinds}")
        return "\n".join(lines)


def code_sources(path: Path) -> list[str | None]:
    """Each cell's source as stored on disk (None for markdown and raw cells)."""
    notebook = nbformat.read(path, as_version=4)
    return [cell.source if cell.cell_type == "code" else None for cell in notebook.cells]


def displays_timeline(source: str) -> bool:
    """Whether running this cell shows a timing diagram: it calls ``Timeline(...)`` at its top level
    and not with ``show=False``.

    Calls inside a ``def``/``class``/``lambda`` only run (and draw) when something calls them, so
    they do not count; text in comments and strings does not count either. A cell IPython has to
    transform first (magics) falls back to a plain text search.
    """
    flags = ast.PyCF_ONLY_AST | ast.PyCF_ALLOW_TOP_LEVEL_AWAIT
    try:
        tree = compile(source, "<cell>", "exec", flags=flags)
    except SyntaxError:
        return "Timeline(" in source

    def calls_timeline(node: ast.AST) -> bool:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)):
            return False
        if isinstance(node, ast.Call):
            func = node.func
            name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
            hidden = any(
                keyword.arg == "show" and isinstance(keyword.value, ast.Constant) and keyword.value.value is False
                for keyword in node.keywords
            )
            if name == "Timeline" and not hidden:
                return True
        return any(calls_timeline(child) for child in ast.iter_child_nodes(node))

    return calls_timeline(tree)


class Lab:
    """One browser page showing JupyterLab."""

    def __init__(self, page, server: LabServer):
        self.page = page
        self.server = server

    def open(self) -> None:
        # `reset` starts from the default workspace: no tabs left over from an earlier test.
        self.page.goto(f"{self.server.url}/lab?reset&token={self.server.token}", timeout=PAGE_TIMEOUT * 1000)
        self.page.locator(".jp-DirListing-item").first.wait_for(timeout=PAGE_TIMEOUT * 1000)

    @property
    def theme(self) -> dict:
        return self.page.evaluate("() => Object.assign({}, document.body.dataset)")

    def menu(self, *labels: str) -> None:
        """Click through the menu bar: ``menu("Run", "Run All Cells")``."""
        first, *rest = labels
        self.page.locator(".lm-MenuBar-item").filter(
            has=self.page.locator(".lm-MenuBar-itemLabel", has_text=exact(first))
        ).click()
        for i, label in enumerate(rest):
            menu = self.page.locator(".lm-Menu").last
            item = menu.locator(".lm-Menu-item").filter(
                has=self.page.locator(".lm-Menu-itemLabel", has_text=exact(label))
            )
            if i < len(rest) - 1:
                item.hover()  # a submenu opens on hover
                self.page.locator(".lm-Menu").nth(i + 1).wait_for()
            else:
                item.click()

    def switch_theme_from_menu(self, theme: str) -> None:
        self.menu("Settings", "Theme", theme)
        self.page.wait_for_function(
            "(name) => document.body.dataset.jpThemeName === name", arg=theme, timeout=PAGE_TIMEOUT * 1000
        )

    def file_browser_item(self, name: str):
        return self.page.locator(".jp-FileBrowser .jp-DirListing-item").filter(
            has=self.page.locator(".jp-DirListing-itemText", has_text=exact(name))
        )

    def open_from_file_browser(self, relpath: Path | str) -> Notebook:
        """Double-click through the folders of ``relpath`` in the left panel, then the notebook."""
        *folders, name = Path(relpath).parts
        for folder in folders:
            self.file_browser_item(folder).dblclick()
            self.page.locator(".jp-FileBrowser .jp-BreadCrumbs-item", has_text=exact(folder)).wait_for()
        self.file_browser_item(name).dblclick()
        notebook = Notebook(self, ROOT / relpath)
        notebook.wait_until_open()
        return notebook


def exact(text: str) -> re.Pattern:
    return re.compile(rf"^\s*{re.escape(text)}\s*$")


class Notebook:
    """The notebook shown in the main area of a ``Lab`` page."""

    def __init__(self, lab: Lab, path: Path):
        self.lab = lab
        self.page = lab.page
        self.path = path
        self.name = path.stem
        self.sources = code_sources(path)  # read when it is opened, as JupyterLab reads it
        self.panel = self.page.locator(".jp-NotebookPanel:visible")

    def wait_until_open(self) -> None:
        tab = self.page.locator(".lm-DockPanel-tabBar .lm-TabBar-tab.lm-mod-current")
        tab.filter(has_text=self.path.name).wait_for(timeout=PAGE_TIMEOUT * 1000)
        # JupyterLab adds the cells to the page a few at a time.
        deadline = time.monotonic() + PAGE_TIMEOUT
        while (shown := len(self.state().cells)) < len(self.sources) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert shown == len(self.sources), (
            f"{self.path.name}: the page shows {shown} cells, the file has {len(self.sources)}"
        )
        self.wait_for_kernel_idle()

    def kernel_connected(self) -> bool:
        """Whether the server has an idle kernel for this notebook with the page connected to it.

        Needed before trusting the page's indicator: it reads "idle" before any kernel exists.
        """
        path = self.path.relative_to(ROOT).as_posix()
        return any(
            session["path"] == path
            and session.get("kernel")
            and session["kernel"].get("connections", 0) >= 1
            and session["kernel"].get("execution_state") == "idle"
            for session in self.lab.server.api("GET", "/api/sessions")
        )

    def wait_for_kernel_idle(self, timeout: float = KERNEL_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.accept_kernel_dialog()
            if self.state().kernel == "idle" and self.kernel_connected():
                return
            time.sleep(0.25)
        raise AssertionError(
            f"{self.path.name}: the kernel was not idle after {timeout} s\n"
            f"{self.state().describe()}\n{self.lab.server.log_tail()}"
        )

    def accept_kernel_dialog(self) -> None:
        """A notebook without kernel metadata asks which kernel to start: take the default."""
        dialog = self.page.locator(".jp-Dialog").first
        try:
            if dialog.count() and "select kernel" in dialog.inner_text(timeout=2000).lower():
                dialog.locator(".jp-Dialog-button.jp-mod-accept").click(timeout=5000)
        except PlaywrightError:  # the dialog closed in the meantime
            pass

    def state(self) -> PageState:
        return PageState.from_js(self.panel.evaluate(CELLS_JS))

    def cell(self, index: int):
        return self.panel.locator(".jp-Notebook .jp-Cell").nth(index)

    def run_all_from_menu(self) -> None:
        self.lab.menu("Run", "Run All Cells")

    def run_cell(self, index: int) -> None:
        """Select a cell by clicking its prompt, then Shift+Enter, as a learner does."""
        self.cell(index).locator(".jp-InputArea-prompt").click()
        self.page.keyboard.press("Shift+Enter")

    def unfinished(self, state: PageState) -> list[int]:
        """Code cells with source whose prompt has no execution count."""
        return [
            cell.index
            for cell in state.cells
            if self.sources[cell.index] and self.sources[cell.index].strip() and not cell.executed
        ]

    def wait_for_run_all(self, timeout: float = RUN_ALL_TIMEOUT) -> PageState:
        """Wait until every cell ran (or an error stopped the run) and the kernel is idle.

        The same finished state must be seen twice in a row, half a second apart: between two
        cells the kernel reports idle for a moment.
        """
        deadline = time.monotonic() + timeout
        settled = 0
        state = self.state()
        while time.monotonic() < deadline:
            state = self.state()
            finished = state.kernel == "idle" and not state.running and (not self.unfinished(state) or state.errors)
            settled = settled + 1 if finished else 0
            if settled >= 2:
                return state
            time.sleep(0.5)
        raise AssertionError(f"{self.path.name}: Run All did not finish within {timeout} s\n{state.describe()}")

    def screenshot(self, path: Path, max_height: int = 10000) -> list[Path]:
        """Screenshots of the whole notebook, toolbar included.

        The window is made as tall as the notebook (up to ``max_height``), so one picture usually
        holds it all; a longer notebook is scrolled and continued in ``<name>-2.png``, ``-3`` ...
        """
        path.parent.mkdir(parents=True, exist_ok=True)
        for stale in path.parent.glob(f"{path.stem}-[0-9]*{path.suffix}"):
            stale.unlink()
        viewport = self.page.viewport_size
        scroller = self.panel.locator(".jp-WindowedPanel-outer")
        hidden = scroller.evaluate("(el) => el.scrollHeight - el.clientHeight")
        paths = []
        try:
            height = min(viewport["height"] + max(hidden, 0), max_height)
            self.page.set_viewport_size({"width": viewport["width"], "height": height})
            self.page.wait_for_timeout(500)  # let JupyterLab lay the cells out again
            panel = self.panel.bounding_box()
            view = scroller.bounding_box()
            client = scroller.evaluate("(el) => el.clientHeight")
            scroller.evaluate("(el) => { el.scrollTop = 0; }")
            last = self.cell(len(self.sources) - 1).bounding_box()
            content_bottom = last["y"] + last["height"] - view["y"] + 16  # from the notebook's top
            offset = 0
            while True:
                top = scroller.evaluate("(el, top) => { el.scrollTop = top; return el.scrollTop; }", offset)
                self.page.wait_for_timeout(300)
                clip_top = panel["y"] if not paths else view["y"]
                bottom = min(view["y"] + content_bottom - top, view["y"] + client)
                part = path if not paths else path.with_name(f"{path.stem}-{len(paths) + 1}{path.suffix}")
                self.page.screenshot(
                    path=str(part),
                    animations="disabled",
                    clip={"x": panel["x"], "y": clip_top, "width": panel["width"], "height": bottom - clip_top},
                )
                paths.append(part)
                if top + client >= content_bottom or len(paths) >= 20:
                    break
                offset = top + client - 40  # a little overlap between the parts
        finally:
            self.page.set_viewport_size(viewport)
        return paths
