"""Evaluation: rubric judges, safety evaluation, reports."""
