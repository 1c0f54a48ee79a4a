"""``%%timeline``: record a notebook cell on the kernel's own loop and draw its timing diagram.

    %load_ext asynclab

    %%timeline -o tl "three sleeps"
    await asyncio.gather(*(asyncio.sleep(0.2) for _ in range(3)))

does exactly what ``async with Timeline("three sleeps") as tl:`` around the cell does. A magic
function cannot await, so the cell is rewritten instead, in two steps that leave the learner's
text untouched (multi-line strings keep their value, tracebacks point at the learner's lines):

1. an input transformer replaces the first line, ``%%timeline ...``, by the one-line statement
   ``async with <CellTimeline(...)> as tl: pass``; the line count stays the same, and the
   ``async with`` makes IPython run the cell as a coroutine on the kernel's loop;
2. an AST transformer moves the statements of the rest of the cell into that block's body.

A misused magic (an unknown option, an empty cell, ``%timeline`` on one line) becomes a
``UsageError``, which IPython shows as a one-line message.
"""

from __future__ import annotations

import ast
import shlex
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeGuard

if TYPE_CHECKING:
    from IPython.core.error import UsageError
    from IPython.core.interactiveshell import InteractiveShell

    from .timeline import Timeline

MAGIC = "%%timeline"
USAGE = (
    'usage: %%timeline [-o NAME] [--group EXPR] [--no-live] ["title"]\n'
    "  -o NAME        keep the Timeline in the variable NAME\n"
    "  --group EXPR   group the lanes: EXPR is a dict {lane: group} or a function lane -> group,\n"
    "                 evaluated after the cell (it may use what the cell computed)\n"
    "  --no-live      no live preview, only the final diagram\n"
    '  "title"        shown above the diagram'
)
# How the rewritten first line reaches this module, whatever the learner's namespace holds.
_THIS_MODULE = "__import__('asynclab.magic').magic"


def _usage_error(message: str) -> UsageError:
    from IPython.core.error import UsageError

    return UsageError(f"{message}\n{USAGE}")


@dataclass
class Options:
    title: str | None = None
    output: str | None = None
    group: str | None = None
    live: bool | None = None


def parse_options(line: str) -> Options:
    """The options of ``%%timeline`` (the text after the magic's name); UsageError if wrong."""
    try:
        words = shlex.split(line)
    except ValueError as error:  # e.g. an unclosed quote
        raise _usage_error(f"%%timeline: cannot read the options ({error}).") from None
    options = Options()
    titles: list[str] = []
    words.reverse()
    while words:
        word = words.pop()
        if word in ("-o", "--output", "--group"):
            if not words:
                raise _usage_error(f"%%timeline: {word} needs a value.")
            value = words.pop()
            if word == "--group":
                options.group = value
            elif value.isidentifier():
                options.output = value
            else:
                raise _usage_error(f"%%timeline: -o takes a variable name, not {value!r}.")
        elif word == "--no-live":
            options.live = False
        elif word.startswith("-") and len(word) > 1:
            raise _usage_error(f"%%timeline: unknown option {word!r}.")
        else:
            titles.append(word)
    if len(titles) > 1:
        raise _usage_error(f"%%timeline: one title only; put it in quotes: %%timeline {shlex.quote(' '.join(titles))}")
    options.title = titles[0] if titles else None
    return options


def _has_code(lines: list[str]) -> bool:
    return any(line.strip() and not line.strip().startswith("#") for line in lines)


def transform_cell(lines: list[str]) -> list[str]:
    """IPython cleanup transformer: rewrite a ``%%timeline`` cell's first line (see module doc)."""
    if not lines or lines[0].split()[:1] != [MAGIC]:
        return lines
    from IPython.core.error import UsageError

    try:
        options = parse_options(lines[0].strip()[len(MAGIC) :])
        if not _has_code(lines[1:]):
            raise _usage_error("%%timeline: the cell is empty. Put the code to record below the %%timeline line.")
    except UsageError as error:
        return [f"{_THIS_MODULE}.fail({str(error)!r})\n"]
    target = f" as {options.output}" if options.output else ""
    header = (
        f"async with {_THIS_MODULE}.CellTimeline({options.title!r}, live={options.live!r}, "
        f"group={options.group!r}, namespace=globals()){target}: pass\n"
    )
    return [header, *lines[1:]]


def fail(message: str) -> None:
    """What a misused ``%%timeline`` cell runs instead: IPython shows the message alone."""
    from IPython.core.error import UsageError

    raise UsageError(message)


class CellTimeline:
    """The ``async with`` a ``%%timeline`` cell runs in: a Timeline, grouped if asked."""

    def __init__(self, title: str | None, *, live: bool | None, group: str | None, namespace: dict[str, Any]) -> None:
        from .timeline import Timeline

        self._group = group
        self._namespace = namespace
        # With --group, the diagram is drawn here at the end, once the grouping can be evaluated.
        self.timeline = Timeline(title, live=live, show=None if group is None else False)

    async def __aenter__(self) -> Timeline:
        return await self.timeline.__aenter__()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> bool:
        handled = await self.timeline.__aexit__(exc_type, exc, tb)
        if self._group is not None:
            from . import kernel

            if kernel.in_kernel():
                from IPython.display import display

                display(self.timeline.plot(group=self._evaluate_group(cell_failed=exc_type is not None)))
        return handled

    def _evaluate_group(self, cell_failed: bool) -> Any:
        assert self._group is not None  # only called with --group
        try:
            return eval(self._group, self._namespace)  # the learner's own expression
        except Exception as error:
            if cell_failed:  # the cell's own error is the one to see; draw the lanes ungrouped
                return None
            raise _usage_error(f"%%timeline --group {self._group}: {type(error).__name__}: {error}") from None


class WrapCellBody(ast.NodeTransformer):
    """IPython AST transformer: the statements after the rewritten first line become its body."""

    def visit_Module(self, module: ast.Module) -> ast.Module:
        body = module.body
        if body and _is_cell_header(body[0]) and len(body) > 1:
            body[0].body = body[1:]
            module.body = [body[0]]
        return module


def _is_cell_header(node: ast.stmt) -> TypeGuard[ast.AsyncWith]:
    if not isinstance(node, ast.AsyncWith) or not node.items:
        return False
    call = node.items[0].context_expr
    return (
        node.lineno == 1
        and isinstance(call, ast.Call)
        and isinstance(call.func, ast.Attribute)
        and call.func.attr == "CellTimeline"
        and ast.unparse(call.func.value) == _THIS_MODULE
        and len(node.body) == 1
        and isinstance(node.body[0], ast.Pass)
    )


def timeline_magic(line: str, cell: str | None = None) -> None:
    """%%timeline: record the cell on the kernel's loop and draw its timing diagram."""
    from IPython.core.error import UsageError

    if cell is None:
        raise UsageError(
            "%timeline is a cell magic: put %%timeline (two %) on the first line "
            "of the cell whose code you want to record.\n" + USAGE
        )
    # Only reached when something calls the magic directly: the cell transformer rewrites
    # every %%timeline cell before IPython looks for cell magics.
    raise UsageError(
        "%%timeline records a cell as it runs: use it as the first line of a "
        "cell, not through run_cell_magic().\n" + USAGE
    )


timeline_magic.__doc__ = f"{timeline_magic.__doc__}\n\n{USAGE}"
_TRANSFORMER = WrapCellBody()


def load(shell: InteractiveShell) -> None:
    if transform_cell not in shell.input_transformers_cleanup:
        shell.input_transformers_cleanup.append(transform_cell)
    if not any(isinstance(t, WrapCellBody) for t in shell.ast_transformers):
        shell.ast_transformers.append(_TRANSFORMER)
    shell.register_magic_function(timeline_magic, "line_cell", "timeline")  # type: ignore[arg-type]  # IPython's decorator hides the signature


def unload(shell: InteractiveShell) -> None:
    if transform_cell in shell.input_transformers_cleanup:
        shell.input_transformers_cleanup.remove(transform_cell)
    shell.ast_transformers[:] = [t for t in shell.ast_transformers if not isinstance(t, WrapCellBody)]
    for kind in ("line", "cell"):
        shell.magics_manager.magics[kind].pop("timeline", None)
