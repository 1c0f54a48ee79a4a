"""The corpus of learner answers (tests/corpus/): every verdict, and the key words of every message.

Each answer runs through ``await qN.check(answer, show=False)`` in its own event loop, so the
tests are independent and spread over workers (``pytest -n 2``). Answers to 01 q1 get the local
services. Every warning is an error here, as in the exercise tests.
"""

import collections

import corpus
import corpus.nb01
import corpus.nb02
import corpus.nb03
import corpus.nb04
import corpus.nb05
import pytest
from asynclab.exercises import nb01, nb02, nb03, nb04, nb05
from exercise_checks import check

pytestmark = pytest.mark.filterwarnings("error")

MODULES = {"nb01": nb01, "nb02": nb02, "nb03": nb03, "nb04": nb04, "nb05": nb05}
NEEDS_SERVICES = {("nb01", "q1")}


@pytest.mark.parametrize("answer", corpus.ANSWERS, ids=lambda answer: answer.id)
def test_answer_gets_its_verdict(answer):
    exercise = getattr(MODULES[answer.notebook], answer.exercise)
    result = check(exercise, answer.obj, services=(answer.notebook, answer.exercise) in NEEDS_SERVICES)
    assert result.status == answer.status, f"{answer.id}: {result.status}: {result.message} {result.error!r}"
    missing = [words for words in answer.words if words not in result.message]
    assert not missing, f"{answer.id}: {missing} not in: {result.message}"
    wrong_cause = [words for words in answer.absent if words in result.message]
    assert not wrong_cause, f"{answer.id}: {wrong_cause} should not be in: {result.message}"


def test_every_exercise_has_a_varied_corpus():
    counts = collections.Counter((a.notebook, a.exercise, a.status) for a in corpus.ANSWERS)
    for name, module in MODULES.items():
        for label in module.__all__:
            if type(getattr(module, label)).__name__ != "Exercise":
                continue
            right, wrong = counts[name, label, "passed"], counts[name, label, "failed"]
            assert right >= 4 and wrong >= 4, f"{name}.{label}: {right} right and {wrong} wrong answers"
    ids = [a.id for a in corpus.ANSWERS]
    assert len(ids) == len(set(ids)), "two answers share a name"
