"""ketameta: a vectorised meta-analysis engine that reproduces metafor."""

__version__ = "0.1.0"
