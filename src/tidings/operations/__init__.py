"""Bulk operations: planned, confirmed, run in chunks by a worker, announced."""
