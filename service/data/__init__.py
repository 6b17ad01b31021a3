"""AERO data: sources and their versions (bytes in GridFS, content-addressed), the
registry of functions, ingestion from upstream URLs, listing and search."""
