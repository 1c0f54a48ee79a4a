"""Predict, then run; move a slider, watch the schedule change.

- ``Checkpoint(question, choices, answer, why)`` shows a question with 2 to 4 choices (text, or
  small diagrams); ``checkpoint.reveal()``, in the cell after the diagram that answers it, says
  whether the pick was right, and why.
- ``await explore(run, limit=(1, 10, 3))`` shows a slider per control above the timing diagram of
  ``run(limit=3)``; moving a slider re-runs ``run`` on the kernel's loop and redraws the diagram.

Both show ipywidgets controls in a notebook, and plain HTML where there are no widgets (a notebook
converted to HTML, the reading edition): the choices, and the answer folded in a ``<details>``.
ipywidgets is imported only when a control is first shown, so ``import asynclab`` stays cheap.
"""

from __future__ import annotations

import asyncio
import base64
import html
import io
import itertools
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from ._ipython import in_jupyter_kernel

__all__ = ["Checkpoint", "Explorable", "Verdict", "explore", "sketch"]

LETTERS = "ABCD"
THUMBNAIL_WIDTH = 260  # pixels, as sketch() draws them at 1x: three side by side fit a notebook's width


def _widget_view(widget: Any) -> dict[str, Any]:
    # What ipywidgets 7 and 8 both send to show a widget: the frontend looks the model up by id.
    return {"version_major": 2, "version_minor": 0, "model_id": widget.model_id}


def _widgets() -> Any | None:
    """The ipywidgets module when a notebook frontend can show widgets here, else None."""
    if not in_jupyter_kernel():
        return None
    try:
        import ipywidgets
    except ImportError:
        return None
    return ipywidgets


def _png_of(choice: object) -> bytes | None:
    """PNG bytes for a diagram choice (PNG bytes, a Timeline, anything with ``_repr_png_``), or None for text."""
    if isinstance(choice, bytes):
        return choice
    to_png = getattr(choice, "_repr_png_", None)
    if callable(to_png):
        png = to_png()
        return png if isinstance(png, bytes) else base64.b64decode(png)
    return None


def _img_tag(png: bytes, width: int = THUMBNAIL_WIDTH, alt: str = "a timing diagram") -> str:
    # An <img> with the PNG inline, for HTML widgets too: an Image widget's bytes would travel as a
    # binary websocket frame, which some clients of the kernel do not expect.
    src = f"data:image/png;base64,{base64.b64encode(png).decode('ascii')}"
    return f'<img src="{src}" width="{width}" alt="{html.escape(alt)}">'


def _inline(text: str) -> str:
    """Text as HTML, with `code` in backticks set as code, as the notebook's markdown shows it."""
    parts = html.escape(text).split("`")
    return "".join(f"<code>{part}</code>" if odd else part for odd, part in zip(itertools.cycle((False, True)), parts))


def sketch(lanes: Mapping[str, Sequence[tuple[float, float]]], title: str = "") -> bytes:
    """A small diagram of a schedule that might happen, as PNG bytes: a choice for a Checkpoint.

    ``lanes`` maps a lane's name to its bars, (start, end) in seconds, drawn top to bottom:
    ``sketch({"fetch 1": [(0, 0.1)], "fetch 2": [(0.1, 0.2)]}, "one after another")``.
    """
    from matplotlib.figure import Figure  # no pyplot: nothing global changes
    from matplotlib.ticker import MaxNLocator

    names = list(lanes)
    figure = Figure(figsize=(THUMBNAIL_WIDTH / 100, 0.6 + 0.3 * len(names)), dpi=100, facecolor="white")
    ax = figure.add_subplot()
    for row, name in enumerate(names):
        bars = [(start, end - start) for start, end in lanes[name]]
        ax.broken_barh(bars, (row - 0.35, 0.7), color="#4c72b0")
    ax.set_yticks(range(len(names)), names, fontsize=9)
    ax.set_ylim(len(names) - 0.5, -0.5)
    ax.set_xlim(left=0)
    ax.tick_params(axis="x", labelsize=8)
    ax.xaxis.set_major_locator(MaxNLocator(4))
    ax.set_xlabel("seconds", fontsize=8)
    if title:
        ax.set_title(title, fontsize=9)
    figure.tight_layout(pad=0.3)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=200)  # twice the pixels, shown at 1x: sharp on 2x screens
    return buffer.getvalue()


class Verdict:
    """What ``Checkpoint.reveal()`` says: ``right`` is True, False, or None when nothing was picked."""

    def __init__(self, text: str, right: bool | None) -> None:
        self.text = text
        self.right = right

    def __repr__(self) -> str:
        return self.text

    def _repr_html_(self) -> str:
        colour = {True: "#2e7d32", False: "#c62828", None: "#37474f"}[self.right]
        return f'<div style="border-left: 4px solid {colour}; padding: 2px 10px">{_inline(self.text)}</div>'


class Checkpoint:
    """A question to answer before running the cell whose diagram answers it.

        speed = Checkpoint("How long do three 0.1 s fetches take in a comprehension?",
                           ["about 0.1 s", "about 0.3 s"], answer="about 0.3 s",
                           why="A comprehension awaits each fetch before it starts the next.")
        speed                # shows the question; pick a choice
        ...                  # the cell that draws the diagram
        speed.reveal()       # right or not, and why

    ``choices``: 2 to 4 strings, or 2 to 4 diagrams (PNG bytes, ``sketch()``, a ``Timeline``), shown
    as thumbnails labelled A to D. ``answer``: the right choice, or its index.
    """

    def __init__(self, question: str, choices: Sequence[object], answer: object, why: str) -> None:
        if not 2 <= len(choices) <= 4:
            raise ValueError(f"a Checkpoint takes 2 to 4 choices, not {len(choices)}")
        self.question = question
        self.choices = list(choices)
        self.why = why
        self.answer = self._index_of(answer)
        pngs = [png for png in map(_png_of, self.choices) if png is not None]
        self._thumbnails: list[bytes] | None = pngs if len(pngs) == len(self.choices) else None
        self._buttons: Any = None

    def _index_of(self, answer: object) -> int:
        if isinstance(answer, int) and not isinstance(answer, bool) and 0 <= answer < len(self.choices):
            return answer
        for index, choice in enumerate(self.choices):
            if isinstance(choice, str) and choice == answer:
                return index
        raise ValueError(f"the answer {answer!r} is neither one of the choices nor an index into them")

    @property
    def labels(self) -> list[str]:
        """What the buttons say: the text choices, or A, B, C, D under thumbnails."""
        if self._thumbnails is not None:
            return list(LETTERS[: len(self.choices)])
        return [str(choice).replace("`", "") for choice in self.choices]

    @property
    def buttons(self) -> Any:
        """The ipywidgets ToggleButtons the learner picks with (made on first use, nothing selected)."""
        if self._buttons is None:
            import ipywidgets

            self._buttons = ipywidgets.ToggleButtons(
                options=self.labels, index=None, style={"button_width": "auto"}, tooltips=[]
            )
        return self._buttons

    @property
    def picked(self) -> int | None:
        """The index of the learner's pick, or None."""
        if self._buttons is None:
            return None
        index = self._buttons.index
        return index if isinstance(index, int) else None

    def reveal(self) -> Verdict:
        """Right or wrong, and why; with nothing picked, just the answer. Never raises."""
        answer = self.labels[self.answer]
        picked = self.picked
        if picked is None:
            return Verdict(f"The answer: {answer}. {self.why}", None)
        if picked == self.answer:
            return Verdict(f"✔ Right: {answer}. {self.why}", True)
        return Verdict(f"✘ Not {self.labels[picked]}: the answer is {answer}. {self.why}", False)

    def _widget(self, widgets: Any) -> Any:
        parts = [widgets.HTML(f"<b>Predict:</b> {_inline(self.question)}")]
        if self._thumbnails is not None:
            parts.append(
                widgets.HBox(
                    layout=widgets.Layout(flex_flow="row wrap"),
                    children=[
                        widgets.VBox(
                            [
                                widgets.HTML(f"<b>{letter}</b>"),
                                widgets.HTML(_img_tag(png)),
                            ]
                        )
                        for letter, png in zip(LETTERS, self._thumbnails)
                    ],
                )
            )
        parts.append(self.buttons)
        return widgets.VBox(parts)

    def _repr_html_(self) -> str:
        if self._thumbnails is not None:
            items = "".join(
                f'<div style="display:inline-block; margin-right:8px"><b>{letter}</b><br>'
                f"{_img_tag(png, alt=f'choice {letter}: a sketch of a timing diagram')}</div>"
                for letter, png in zip(LETTERS, self._thumbnails)
            )
            choices = f"<div>{items}</div>"
        else:
            choices = "<ul>" + "".join(f"<li>{_inline(str(choice))}</li>" for choice in self.choices) + "</ul>"
        answer = html.escape(self.labels[self.answer])
        return (
            f'<div class="asynclab-checkpoint"><p><b>Predict:</b> {_inline(self.question)}</p>{choices}'
            f"<details><summary>The answer</summary><p><b>{answer}</b>. {_inline(self.why)}</p></details></div>"
        )

    def _repr_markdown_(self) -> str:
        return self._repr_html_()

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        data: dict[str, Any] = {"text/plain": f"Predict: {self.question}", "text/html": self._repr_html_()}
        widgets = _widgets()
        if widgets is not None:
            data["application/vnd.jupyter.widget-view+json"] = _widget_view(self._widget(widgets))
        return data

    def __repr__(self) -> str:
        return f"<Checkpoint {self.question!r}: {len(self.choices)} choices>"


Control = tuple[float, float, float] | tuple[float, float, float, float]  # (low, high, start[, step])


class Explorable:
    """``run(**values)`` drawn as a timing diagram, re-run whenever a control moves (see ``explore``)."""

    def __init__(self, run: Callable[..., Awaitable[Any]], controls: Mapping[str, Control]) -> None:
        if not controls:
            raise ValueError("explore() needs at least one control, e.g. limit=(1, 10, 3)")
        self.run = run
        self.controls = dict(controls)
        self.values: dict[str, float] = {}
        for name, spec in self.controls.items():
            if len(spec) not in (3, 4) or not spec[0] <= spec[2] <= spec[1]:
                raise ValueError(f"{name}=(low, high, start) or (low, high, start, step), with low <= start <= high")
            self.values[name] = spec[2]
        self.figures: dict[str, object] = {}  # the last run's key figures
        self.png: bytes | None = None  # the last run's diagram
        self.width: int | None = None
        self.alt = "the timing diagram of this run"
        self.runs = 0  # how many runs finished
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.sliders: dict[str, Any] = {}
        self._image: Any = None
        self._text: Any = None

    # -- running ---------------------------------------------------------------------------

    def start(self, **values: float) -> asyncio.Task[None]:
        """Cancel a run still in progress and start one with these values (the controls' otherwise)."""
        self.values.update(values)
        loop = self._loop or asyncio.get_running_loop()
        self._loop = loop
        previous = self._task
        if previous is not None and not previous.done():
            previous.cancel()
        # The task's name is the diagram's top lane: the function being explored.
        name = getattr(self.run, "__name__", "run")
        self._task = task = loop.create_task(self._render(dict(self.values), previous), name=name)
        self._show_running()
        return task

    @property
    def running(self) -> bool:
        """Whether a run is in progress (or about to start)."""
        return self._task is not None and not self._task.done()

    async def wait(self) -> None:
        """Wait until the latest run has been drawn (or cancelled)."""
        while self._task is not None and not self._task.done():
            await asyncio.wait([self._task])

    def __await__(self) -> Any:
        async def first() -> Explorable:
            if self._task is None:
                self.start()
            await self.wait()
            return self

        return first().__await__()

    async def _render(self, values: dict[str, float], previous: asyncio.Task[None] | None) -> None:
        from .timeline import Timeline

        if previous is not None:
            await asyncio.wait([previous])  # its `async with` blocks close before the next run starts
        title = ", ".join(f"{name}={_format(value)}" for name, value in values.items())
        try:
            async with Timeline(f"{getattr(self.run, '__name__', 'run')}({title})", show=False, live=False) as tl:
                extra = await self.run(**values)
            from .timeline.drawing import diagram_bundle

            data, metadata = diagram_bundle(tl.plot())
            figures: dict[str, object] = {
                "total": f"{tl.duration * 1000:.0f} ms",
                "tasks at once": tl.max_concurrency(),
            }
            if isinstance(extra, Mapping):
                figures.update(extra)
        except asyncio.CancelledError:
            raise
        except Exception as error:  # shown in place of the figures: a slider never breaks the kernel
            self.figures = {"error": f"{type(error).__name__}: {error}"}
            self._show()
            return
        self.png = base64.b64decode(data["image/png"])
        self.width = metadata["image/png"]["width"]
        self.alt = str(data.get("text/plain") or "the timing diagram of this run")  # what it shows, in words
        self.figures = figures
        self.runs += 1
        self._show()

    # -- showing ---------------------------------------------------------------------------

    def figures_text(self) -> str:
        return " · ".join(f"{name}: {value}" for name, value in self.figures.items())

    def _show_running(self) -> None:
        if self._text is not None:
            self._text.value = f"<i>running…</i> {html.escape(self.figures_text())}"

    def _show(self) -> None:
        if self._text is not None:
            self._text.value = f"<b>{html.escape(self.figures_text())}</b>"
        if self._image is not None and self.png is not None:
            self._image.value = _img_tag(self.png, self.width or 600, self.alt)

    def _on_move(self, change: Mapping[str, Any]) -> None:
        name = change["owner"].description
        values = {name: change["new"]}
        loop = self._loop
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if loop is None or loop is running:
            self.start(**values)
        else:  # a comm message handled off the loop's thread
            loop.call_soon_threadsafe(lambda: self.start(**values))

    def _slider(self, widgets: Any, name: str, spec: Control) -> Any:
        low, high, start = spec[:3]
        whole = all(isinstance(v, int) and not isinstance(v, bool) for v in spec)
        step = spec[3] if len(spec) == 4 else (1 if whole else (high - low) / 20)
        kind = widgets.IntSlider if whole else widgets.FloatSlider
        slider = kind(value=start, min=low, max=high, step=step, description=name, continuous_update=False)
        slider.observe(self._on_move, names="value")
        return slider

    def _widget(self, widgets: Any) -> Any:
        self.sliders = {name: self._slider(widgets, name, spec) for name, spec in self.controls.items()}
        self._text = widgets.HTML()
        self._image = widgets.HTML()
        self._show()
        return widgets.VBox(
            [
                widgets.HBox(list(self.sliders.values()), layout=widgets.Layout(flex_flow="row wrap")),
                self._text,
                self._image,
            ]
        )

    def _repr_html_(self) -> str:
        values = ", ".join(f"{name} = {_format(value)}" for name, value in self.values.items())
        image = _img_tag(self.png, self.width or 600, self.alt) if self.png is not None else ""
        return (
            f'<div class="asynclab-explorable"><p>{html.escape(values)}: '
            f"<b>{html.escape(self.figures_text())}</b></p>{image}</div>"
        )

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        data: dict[str, Any] = {"text/plain": f"{self.values}: {self.figures_text()}", "text/html": self._repr_html_()}
        widgets = _widgets()
        if widgets is not None:
            data["application/vnd.jupyter.widget-view+json"] = _widget_view(self._widget(widgets))
            if self._task is None:  # shown without `await`: the first run starts now
                try:
                    self.start()
                except RuntimeError:  # no running loop: the first move starts one
                    pass
        return data

    def __repr__(self) -> str:
        return f"<Explorable {getattr(self.run, '__name__', 'run')}: {self.values}>"


def _format(value: float) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def explore(run: Callable[..., Awaitable[Any]], **controls: Control) -> Explorable:
    """A slider per control over the timing diagram of ``run(**values)``, re-run as they move.

        async def fetch_with_limit(limit):
            ...
        await explore(fetch_with_limit, limit=(1, 10, 3))     # (low, high, start[, step])

    Awaiting it draws the first run (so Run All shows the default diagram). Each move starts
    ``run`` as a task on the kernel's loop, recorded by a Timeline, after cancelling a run still in
    progress and waiting for it to end. The diagram and its figures (total time, tasks at once,
    and any ``{name: value}`` that ``run`` returns) redraw in place.
    """
    return Explorable(run, controls)
