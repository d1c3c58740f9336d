"""Tests of pure code and committed artefacts (schemas, openapi.json)."""
