"""Experiments (after Aqueduct): records, tags, files in GridFS, extensions and tasks."""
