"""What every exercise test does: run a check quietly, then assert on its verdict."""

import asyncio
import gc

import asynclab


def check(exercise, answer, *, services=False, **options):
    """Run ``exercise.check(answer)`` without display; ``services=True`` starts the local services."""

    async def run():
        if not services:
            return await exercise.check(answer, show=False, **options)
        async with asynclab.start_services():
            return await exercise.check(answer, show=False, **options)

    result = asyncio.run(run())
    gc.collect()  # anything the check left unclosed warns now, inside the test
    return result


def assert_passes(result):
    assert result.passed and result and result.status == "passed", f"{result.status}: {result.message} {result.error!r}"


def assert_fails(result, *phrases):
    assert result.status == "failed", f"expected a failure, got {result.status}: {result.message}"
    assert not result and not result.passed
    for phrase in phrases:
        assert phrase in result.message, f"{phrase!r} not in: {result.message}"


def message_strings(code) -> list[str]:
    """The string literals of a module that can end up in a message: every one but the docstrings
    (comments are not in the tree at all). An f-string counts with ``\0`` where each value goes,
    so words that span a value do not match."""
    import ast
    import inspect
    import textwrap

    tree = ast.parse(textwrap.dedent(inspect.getsource(code)))
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    strings = []
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):
            strings.append("".join(v.value if isinstance(v, ast.Constant) else "\0" for v in node.values))
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
            strings.append(node.value)
    return strings


def assert_requirement_map(requirements, test_module_globals, exercise_module):
    """Check a requirement map: ``(exercise, requirement, words, test name)`` rows.

    For each row, ``words`` (what the judge says when the requirement is broken) must be part of
    one message string of the judge (a string literal, not a comment or a docstring, in
    ``asynclab/exercises/<exercise_module>.py`` or the shared core, diagnose and trial modules),
    and the named test must exist in the test module and assert those words. Every exercise of
    the module must have at least one row.
    """
    import importlib
    import inspect

    judge = importlib.import_module(f"asynclab.exercises.{exercise_module}")
    from asynclab.exercises import core, diagnose, trial

    messages = [text for module in (judge, core, diagnose, trial) for text in message_strings(module)]
    # What every failed value check says ("...; expected ...", "None. Is a `return` missing?")
    # names no requirement: the words must come from the judge's own part of the message.
    shared = message_strings(trial.Trial.expect_equal)
    for text in shared:
        messages.remove(text)
    problems = []
    for label, requirement, words, test_name in requirements:
        test = test_module_globals.get(test_name)
        if not callable(test):
            problems.append(f"{label} ({requirement}): no test {test_name}")
            continue
        if not any(words in text for text in messages):
            generic = any(words in text for text in shared)
            problems.append(
                f"{label} ({requirement}): {words!r} is in every failed value check, not this one's"
                if generic
                else f"{label} ({requirement}): no message of the judge says {words!r}"
            )
        if words not in inspect.getsource(test):
            problems.append(f"{label} ({requirement}): {test_name} does not assert {words!r}")
    exercises = {
        name
        for name, value in vars(judge).items()
        if name in getattr(judge, "__all__", ()) and type(value).__name__ == "Exercise"
    }
    missing = exercises - {label for label, *_ in requirements}
    if missing:
        problems.append(f"exercises without a row: {sorted(missing)}")
    assert not problems, "\n".join(problems)
