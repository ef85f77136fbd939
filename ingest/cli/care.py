"""The commands that keep a data directory whole: check, repair, backup, restore."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ingest.cli.app import WAITING, JsonOpt, app, say, user_errors
from ingest.settings import Settings

if TYPE_CHECKING:
    from ingest.store.repair import Repaired


@app.command()
@user_errors
def check(
    full: Annotated[bool, typer.Option("--full", help="Read every media copy, not a sample of 200.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Is the data directory whole? The manifest, every collection against its catalog, every
    model, the media copies. Exit 0 when whole, 1 with the list of problems."""
    from ingest.store.check import check as run_check
    from ingest.store.check import format_report, refuse_without_store

    settings = Settings.from_env()
    refuse_without_store(settings)
    report = run_check(settings, full)
    typer.echo(json.dumps(report.to_json(), indent=2) if as_json else format_report(report, full))
    if not report.whole:
        raise typer.Exit(1)


@app.command()
@user_errors
def repair(as_json: JsonOpt = False) -> None:
    """Rebuild what can be rebuilt: the manifest from the collections on disk, a damaged
    collection from its catalog, media copies and model; damaged files are set aside, never
    deleted. Exit 1 when something could not be recovered (it says what)."""
    from ingest.store.repair import repair as run_repair

    result = run_repair(Settings.from_env(), show_progress=not as_json)
    if as_json:
        typer.echo(json.dumps(result.to_json(), indent=2))
    else:
        for line in repair_lines(result):
            typer.echo(line)
    if result.lost:
        raise typer.Exit(1)


def repair_lines(result: Repaired) -> list[str]:
    lines = [f"manifest: {result.manifest}"] if result.manifest else []
    lines += [
        f"{name}: rebuilt, {n:,} points embedded again from their media copies" for name, n in result.rebuilt.items()
    ]
    lines += [f"{name}: catalog written ({n:,} points)" for name, n in result.catalogs.items()]
    if result.aside is not None and result.aside.exists():
        lines.append(f"damaged files set aside in {result.aside}: delete them once search works again")
    if result.lost:
        lines += ["could not be recovered:", *(f"  {line}" for line in result.lost)]
    return lines or ["nothing to repair"]


@app.command()
@user_errors
def backup(
    dest: Annotated[Path, typer.Argument(help="A new (or empty) folder for the copy.")],
    as_json: JsonOpt = False,
) -> None:
    """A consistent copy of the data directory, made while no load writes (a load or the page
    waits). With QDRANT_URL the collections come from the server's snapshots."""
    from ingest.store.backup import backup as run_backup

    copied = run_backup(Settings.from_env(), dest, on_wait=lambda: say(WAITING))
    if as_json:
        typer.echo(json.dumps({"to": str(dest), "collections": copied.collections, "files": copied.files}, indent=2))
        return
    for name, count in copied.collections.items():
        typer.echo(f"  {name:<36} {'?' if count is None else f'{count:,}':>9} points")
    typer.echo(f"backed up {copied.files:,} files ({copied.bytes / 2**20:,.1f} MB) to {dest}")
    say(f"to restore it: ingest restore {dest}   (or use it as it is: CBIR_HOME={dest})")


@app.command()
@user_errors
def restore(
    src: Annotated[Path, typer.Argument(help="A folder `ingest backup` wrote.")],
    replace: Annotated[
        bool, typer.Option(help="Move the data directory that is there aside first (nothing is deleted).")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Put a backup back as the data directory (CBIR_HOME), after checking it; with QDRANT_URL,
    upload its snapshots to the server."""
    from ingest.store.restore import restore as run_restore

    settings = Settings.from_env()
    restored = run_restore(settings, src, replace)
    if as_json:
        aside = str(restored.moved_aside) if restored.moved_aside else None
        typer.echo(json.dumps({"collections": restored.collections, "moved_aside": aside}, indent=2))
        return
    for name, count in restored.collections.items():
        typer.echo(f"  {name:<36} {count:>9,} points")
    typer.echo(f"restored {src} into {settings.qdrant_url or settings.home}")
    if restored.moved_aside:
        say(f"the data directory that was there is now {restored.moved_aside}")
