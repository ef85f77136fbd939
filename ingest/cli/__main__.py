"""`python -m ingest.cli`, as the tests run it."""

import sys

from ingest.cli import app

sys.exit(app(prog_name="ingest"))
