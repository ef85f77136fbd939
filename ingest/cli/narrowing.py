"""The options that narrow a command to photos taken in a time range, with a camera, near a
place: `ingest search`, `evaluate` and `duplicates` share them (`ingest.query.narrowing`)."""

from __future__ import annotations

from typing import Annotated

import typer

TakenAfterOpt = Annotated[
    str | None,
    typer.Option(
        "--taken-after",
        metavar="DATE",
        help="Only photos taken at or after this date or time, on the camera's clock (2024-06-01, 2024-06, "
        "2024-06-01T14:30). Photos whose file records no date are left out.",
    ),
]
TakenBeforeOpt = Annotated[
    str | None,
    typer.Option(
        "--taken-before",
        metavar="DATE",
        help="Only photos taken before this date or time (2024-09-01: up to the end of August).",
    ),
]
CameraOpt = Annotated[
    str | None,
    typer.Option(
        "--camera",
        help="Only photos taken with this camera: its name, or words of it ('iphone' finds every iPhone).",
    ),
]
NearOpt = Annotated[
    str | None,
    typer.Option("--near", metavar="LAT,LON,KM", help="Only photos taken within KM kilometres of LAT,LON."),
]
