"""Every student's score per exercise, as CSV, from nbgrader's gradebook.

``nbgrader export`` writes one row per student and assignment. For one row per exercise::

    nbgrader export --exporter=asynclab.course_export.ExerciseScores --to=exercises.csv

Columns: ``assignment``, ``student_id``, ``exercise`` (``q1``), ``score`` (empty when the student
submitted nothing for that assignment), ``max_score``. ``--student`` and ``--assignment`` narrow it,
as for nbgrader's own export. This module needs nbgrader (requirements-course.txt).
"""

from __future__ import annotations

import csv

from nbgrader.api import Gradebook, MissingEntry
from nbgrader.plugins import ExportPlugin

COLUMNS = ("assignment", "student_id", "exercise", "score", "max_score")
CHECK_SUFFIX = "_check"  # the test cells' grade ids (asynclab/course.py): q1_check, ...


class ExerciseScores(ExportPlugin):
    """nbgrader export plugin: one CSV row per student, assignment and graded check."""

    def export(self, gradebook: Gradebook) -> None:
        dest = self.to or "exercise_scores.csv"
        students = {str(s) for s in self.student}
        assignments = {str(a) for a in self.assignment}
        rows = []
        for assignment in sorted(gradebook.assignments, key=lambda a: a.name):
            if assignments and assignment.name not in assignments:
                continue
            for notebook in assignment.notebooks:
                for cell in sorted(notebook.grade_cells, key=lambda c: c.name):
                    for student in sorted(gradebook.students, key=lambda s: s.id):
                        if students and student.id not in students:
                            continue
                        try:
                            grade = gradebook.find_grade(cell.name, notebook.name, assignment.name, student.id)
                        except MissingEntry:
                            score = ""
                        else:
                            score = "" if grade.score is None else f"{grade.score:g}"
                        rows.append(
                            (
                                assignment.name,
                                student.id,
                                cell.name.removesuffix(CHECK_SUFFIX),
                                score,
                                f"{cell.max_score:g}",
                            )
                        )
        self.log.info("Exporting %d exercise scores to %s", len(rows), dest)
        with open(dest, "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(COLUMNS)
            writer.writerows(rows)
