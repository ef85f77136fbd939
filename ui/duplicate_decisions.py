"""The Duplicates tab's decisions: "keep this one", "not duplicates" (a group, or one photo apart
from the rest), "review again". Button callbacks: they run before the next rerun of the script
and write the data directory's decisions file (`ingest.query.decisions`), so a decision survives
reloads of the page, restarts and new loads, and the page shows the groups with it applied."""

from __future__ import annotations

from ingest.query.decisions import DecisionBook, place_of
from ingest.settings import Settings


def _book(collection: str) -> DecisionBook:
    return DecisionBook(Settings.from_env().home, collection)


def keep(collection: str, group: dict, index: int) -> None:
    """Keep the group's file at `index`; its other files become files to delete."""
    members = group["members"]
    _book(collection).keep(place_of(members[index]), [place_of(m) for m in members], group.get("kind", "copies"))


def keep_all(collection: str, choices: list[tuple[dict, int]]) -> None:
    """Every group shown, each keeping the file its rule marks."""
    for group, index in choices:
        keep(collection, group, index)


def not_duplicates(collection: str, group: dict) -> None:
    _book(collection).not_duplicates(m["id"] for m in group["members"])


def apart(collection: str, group: dict, index: int) -> None:
    """This photo is not a duplicate of any other of its group (a pair decision with each)."""
    book, alone = _book(collection), group["members"][index]["id"]
    for other in {m["id"] for m in group["members"]} - {alone}:
        book.not_duplicates([alone, other])


def review_again(collection: str, group: dict) -> None:
    _book(collection).forget(m["id"] for m in group["members"])
