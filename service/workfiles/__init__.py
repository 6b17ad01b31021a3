"""Workfiles (stored workflow definitions) and their runs on the Buckets work queue."""
