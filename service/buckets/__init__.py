"""Buckets: the work queue, wire-compatible with the CHIME/FRB `workflow` client."""
