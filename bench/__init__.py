"""Benchmarks: `python -m bench` (or `make bench`).

Every figure is a ratio against a baseline measured in the same run on the same machine
(PyMongo straight to the same database, or a bare Starlette app), so the numbers say what
Sluice costs on top of its parts, not how fast this machine is.
"""
