"""What every command shares: the Typer app, its common options, and how errors read.

A user's mistake prints one line, `error: <what is wrong>: <what to do>`, and exits 2.
"""

from __future__ import annotations

import functools
import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

import typer

from ingest.errors import UserError, filesystem_problem
from ingest.settings import Settings
from ingest.store import Store, open_store
from ingest.store.migrate import legacy_notice

app = typer.Typer(
    help="Search animal photos by content: train an autoencoder, index a zip into Qdrant, query it.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

CollectionOpt = Annotated[str, typer.Option("--collection", "-c", help="Collection name.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON on stdout.")]


def say(message: str) -> None:
    """Messages go to stderr: stdout stays clean for --json and pipes. Through sys.stderr itself,
    which a live progress bar replaces with a proxy that prints each line above the bar; click's
    echo writes past it, onto the bar's own line."""
    print(message, file=sys.stderr, flush=True)


WAITING = "waiting for the embedded store, held by another process (the page?)"


@contextmanager
def store_for(settings: Settings) -> Iterator[Store]:
    """The store, waiting a little while the page (or a load) holds the embedded one."""
    if notice := legacy_notice(settings):
        say(f"note: {notice}")
    with open_store(settings, on_wait=lambda: say(WAITING)) as store:
        yield store


def printable(name: str) -> str:
    """A name from a zip or a folder as one line of plain text: a newline in it would make two
    lines of one, and an escape sequence would be run by the terminal (a title, a link, colours)."""
    return "".join(c if c.isprintable() or c == " " else f"\\u{ord(c):04x}" for c in name)


def _warning_line(message, category, filename, lineno, file=None, line=None) -> None:
    say(f"warning: {message}")


def user_errors(command):
    """UserError -> one line and exit 2; Ctrl-C -> a line saying the collection is intact."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        warnings.showwarning = _warning_line
        try:
            return command(*args, **kwargs)
        except UserError as exc:
            say(f"error: {exc}")
            raise typer.Exit(2) from None
        except OSError as exc:  # the machine's fault (a full disk, a read-only folder), not a bug
            say(f"error: {filesystem_problem(exc)}")
            raise typer.Exit(2) from None
        except KeyboardInterrupt:
            say("interrupted: what was written is consistent; run the same command again to finish")
            raise typer.Exit(130) from None

    return wrapper
