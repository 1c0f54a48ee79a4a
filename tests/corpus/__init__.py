"""A corpus of typical learner answers to the 19 exercises, right and wrong, in varied styles.

Each module (``nb01`` .. ``nb05``) holds answers as real functions and classes, written from each
exercise's statement alone, as learners would. Each is registered with the verdict its check must
give and key words its message must hold (``right`` / ``wrong``); ``tests/test_answer_corpus.py``
runs them all through ``await qN.check(answer, show=False)``.
"""

from dataclasses import dataclass, field

ANSWERS: list["Answer"] = []


@dataclass(frozen=True)
class Answer:
    notebook: str  # "nb01"
    exercise: str  # "q1"
    obj: object
    status: str  # "passed" or "failed"
    words: tuple[str, ...] = ()  # each must be in the message
    absent: tuple[str, ...] = field(default=())  # none of these may be in it (a misattributed cause)

    @property
    def id(self) -> str:
        return f"{self.notebook}.{self.exercise}.{getattr(self.obj, '__name__', repr(self.obj))}"


def _register(exercise, status, words, absent):
    def register(obj):
        notebook = obj.__module__.rsplit(".", 1)[-1]
        ANSWERS.append(Answer(notebook, exercise, obj, status, tuple(words), tuple(absent)))
        return obj

    return register


def right(exercise):
    """``@right("q1")``: this answer must pass."""
    return _register(exercise, "passed", (), ())


def wrong(exercise, *words, absent=()):
    """``@wrong("q1", "key words", ...)``: this answer must fail, with these words in the message."""
    return _register(exercise, "failed", words, absent)
