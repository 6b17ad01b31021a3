"""Results: per-pipeline stores of finished work."""
