"""Fixtures of the experiment tests (see lab.py)."""

from tests.service.experiments.lab import lab, lab_http, lab_worker

__all__ = ["lab", "lab_http", "lab_worker"]
