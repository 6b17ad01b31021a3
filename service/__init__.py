"""Sluice: a results store and work queue for scientific data pipelines."""

__version__ = "0.1.0"
