"""Evaluation: safety evaluation, the arena, reports (the rubric judge is :mod:`safealign.janus.rubric`)."""
