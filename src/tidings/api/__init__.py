"""HTTP: the FreeScout-compatible surface and Tidings' extensions."""
