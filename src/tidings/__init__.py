"""Tidings: a FreeScout-compatible help desk whose event notifications tell the truth."""

__version__ = "0.1.0"
