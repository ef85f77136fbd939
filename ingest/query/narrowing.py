"""Narrowing a collection to photos taken in a time range, with a camera, near a place: what the
user types (on the command line or the page) turned into a `Where` that the store runs against
its payload indexes, so that K results still come back however few photos match.

Times are compared on the camera's clock (`taken_at` has no offset; see `ingest.exif`): a photo
taken at 09:00 in Tokyo and one taken at 09:00 in Paris are both "taken at 09:00". A date alone
means its first moment, so `--taken-after 2024-06-01 --taken-before 2024-09-01` is June, July
and August; a year or a month alone (2024, 2024-06) means its first day.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re

from ingest.errors import UserError
from ingest.store import Near, Store, Where

_YEAR_OR_MONTH = re.compile(r"(\d{4})(?:-(\d{1,2}))?")
CAMERAS_LISTED = 12


def moment(text: str, option: str) -> str:
    """A date or a time as `taken_at` holds them: 2024-06-01T00:00:00."""
    given = text.strip()
    try:
        if found := _YEAR_OR_MONTH.fullmatch(given):
            parsed = dt.datetime(int(found[1]), int(found[2] or 1), 1)
        else:
            parsed = dt.datetime.fromisoformat(given)
    except ValueError:
        parsed = None
    if parsed is None:
        raise UserError(f"{option} {text!r} is not a date: give one like 2024-06-01, 2024-06 or 2024-06-01T14:30")
    if parsed.tzinfo is not None:
        raise UserError(
            f"{option} {text!r} has a time zone: give the time as the camera's clock showed it, without one "
            "(photos are compared on their own clock)"
        )
    return parsed.isoformat(timespec="milliseconds" if parsed.microsecond else "seconds")


def cameras_matching(store: Store, collection: str, text: str) -> tuple[str, ...]:
    """The cameras of the collection that `text` names: one by its exact name (any case), else
    every camera whose name holds all of text's words ("iphone" finds every iPhone)."""
    if "camera" in store.missing_payload_indexes(collection):
        raise UserError(
            "--camera: this collection was loaded before cameras were read: load its photos again "
            "(`ingest load PATH`: nothing is embedded again) and their dates and cameras are filled in"
        )
    cameras = store.facet(collection, "camera")
    wanted = text.strip().lower()
    exact = [name for name in cameras if name.lower() == wanted]
    if exact:
        return tuple(exact)
    words = wanted.split()
    found = tuple(sorted(name for name in cameras if all(word in name.lower() for word in words)))
    if found:
        return found
    if not cameras:
        raise UserError(
            f"--camera {text!r}: no photo of this collection says which camera took it (none has EXIF); "
            "leave --camera out"
        )
    known = sorted(cameras, key=lambda name: -cameras[name])[:CAMERAS_LISTED]
    raise UserError(f"--camera {text!r} matches no camera of this collection: give one of {', '.join(known)}")


def place(text: str) -> Near:
    """LAT,LON,KM: within KM kilometres of a point given in decimal degrees."""
    try:
        lat, lon, km = (float(part) for part in text.split(","))
    except ValueError:
        lat = lon = km = float("nan")
    if not (-90 <= lat <= 90 and -180 <= lon <= 180 and km > 0):
        raise UserError(f"--near {text!r} is not a place: give LAT,LON,KM in degrees and kilometres, e.g. 48.86,2.35,5")
    return Near(lat, lon, km)


def narrowed(
    store: Store,
    collection: str,
    taken_after: str | None = None,
    taken_before: str | None = None,
    camera: str | None = None,
    near: str | None = None,
    where: Where | None = None,
) -> Where:
    """`where` with the user's time range, camera and place added (each checked: one line for a mistake)."""
    after = moment(taken_after, "--taken-after") if taken_after else None
    before = moment(taken_before, "--taken-before") if taken_before else None
    if after and before and after >= before:
        raise UserError(f"--taken-after {taken_after} is not before --taken-before {taken_before}: swap them")
    return dataclasses.replace(
        where or Where(),
        taken_after=after,
        taken_before=before,
        cameras=cameras_matching(store, collection, camera) if camera else (),
        near=place(near) if near else None,
    )


def describe(where: Where) -> str:
    """'taken from 2024-06-01 to before 2024-09-01, with Canon EOS R5', for output lines ('' without)."""
    parts = []
    if where.taken_after or where.taken_before:
        start = f"from {_short(where.taken_after)}" if where.taken_after else ""
        end = f"before {_short(where.taken_before)}" if where.taken_before else ""
        parts.append(f"taken {start}{' to ' if start and end else ''}{end}")
    if where.cameras:
        parts.append(f"with {' or '.join(where.cameras)}")
    if where.near:
        parts.append(f"within {where.near.km:g} km of {where.near.lat:g},{where.near.lon:g}")
    return ", ".join(parts)


def _short(moment: str) -> str:
    """2024-06-01 for its first moment, else 2024-06-01 14:30:00."""
    return moment[:10] if moment.endswith("T00:00:00") else moment.replace("T", " ")
