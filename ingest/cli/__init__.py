"""`ingest`: the command line. Thin: parse, call the load pipeline or a query, print."""

from ingest.cli import care, loading, manage, queries, training, watching  # noqa: F401  (each registers its commands)
from ingest.cli.app import app

__all__ = ["app"]
