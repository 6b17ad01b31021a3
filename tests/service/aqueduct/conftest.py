"""Fixtures of the Aqueduct-surface tests: the experiment lab (tests/service/experiments/lab.py)."""

from tests.service.experiments.lab import lab, lab_http, lab_worker

__all__ = ["lab", "lab_http", "lab_worker"]
