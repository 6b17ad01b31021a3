"""Leaderboards of reproducible benchmarks: workflow templates, groups, uploads, runs."""
