"""When, with what and where a photo was taken: EXIF written by Pillow (and pillow-heif for a
HEIC) into real files, loaded through the real CLI, read back from the real store; then the
searches narrowed by date and camera, and a collection loaded before EXIF was read, filled by a
reload without re-embedding."""

from __future__ import annotations

import datetime as dt
import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from PIL.TiffImagePlugin import IFDRational

from bench.load_rate import phone_exif
from ingest.exif import FACT_FIELDS, camera_name, photo_facts
from ingest.images import decode  # registers pillow-heif's HEIC opener, which saving one needs too
from ingest.store import collections as cols

from conftest import run_cli, store_at
from images_for_tests import photo
from test_ui_apptest import as_read

TIME_OFFSET_SUBSEC = {0x9011: "+02:00", 0x9291: "250"}


def exif_block(
    taken: str | None = None,
    make: str | None = None,
    model: str | None = None,
    lens: str | None = None,
    gps: tuple[float, float] | None = None,
    more: dict | None = None,
) -> bytes:
    """An EXIF block as a camera writes it: DateTimeOriginal in its own format (2024:06:01
    14:30:05), the make and model in IFD0, the lens in the Exif directory, the position as
    degrees, minutes and seconds with N/S and E/W."""
    exif = Image.Exif()
    if make:
        exif[0x010F] = make
    if model:
        exif[0x0110] = model
    details = exif.get_ifd(0x8769)
    if taken:
        details[0x9003] = taken
    if lens:
        details[0xA434] = lens
    for tag, value in (more or {}).items():
        details[tag] = value
    if gps:
        place = exif.get_ifd(0x8825)
        for ref_tag, tag, value, signs in ((1, 2, gps[0], "NS"), (3, 4, gps[1], "EW")):
            whole, rest = divmod(abs(value) * 3600, 3600)
            minutes, seconds = divmod(rest, 60)
            place[ref_tag] = signs[value < 0]
            place[tag] = (IFDRational(int(whole)), IFDRational(int(minutes)), IFDRational(round(seconds * 100), 100))
    return exif.tobytes()


def saved(image: Image.Image, fmt: str, exif: bytes | None = None, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **({"exif": exif} if exif else {}), **options)
    return buffer.getvalue()


# Photos of one library, the payload each must get (beside the fields every photo has).
LIBRARY = {
    "summer/paris.jpg": (
        saved(
            photo(1, (64, 48)),
            "JPEG",
            exif_block(
                "2024:06:01 14:30:05",
                "Apple",
                "iPhone 13",
                "iPhone 13 back camera",
                (48.8584, 2.2945),
                TIME_OFFSET_SUBSEC,
            ),
        ),
        {
            "taken_at": "2024-06-01T14:30:05.250",
            "taken_offset": "+02:00",
            "taken_from": "DateTimeOriginal",
            "camera": "Apple iPhone 13",
            "camera_make": "Apple",
            "camera_model": "iPhone 13",
            "lens": "iPhone 13 back camera",
            "location": {"lat": 48.8584, "lon": 2.2945},
        },
    ),
    "summer/rio.heic": (  # an iPhone's HEIC, south and west
        saved(
            photo(2, (64, 48)),
            "HEIF",
            exif_block("2024:08:31 23:59:59", "Apple", "iPhone 15 Pro", gps=(-22.9519, -43.2105)),
        ),
        {
            "taken_at": "2024-08-31T23:59:59",
            "taken_from": "DateTimeOriginal",
            "camera": "Apple iPhone 15 Pro",
            "camera_make": "Apple",
            "camera_model": "iPhone 15 Pro",
            "location": {"lat": -22.9519, "lon": -43.2105},
        },
    ),
    "autumn/canon.jpg": (  # no offset recorded; the model already says the make
        saved(
            photo(3, (64, 48)),
            "JPEG",
            exif_block("2024:09:01 00:00:00", "Canon", "Canon EOS R5", "RF24-105mm F4 L IS USM"),
        ),
        {
            "taken_at": "2024-09-01T00:00:00",
            "taken_from": "DateTimeOriginal",
            "camera": "Canon EOS R5",
            "camera_make": "Canon",
            "camera_model": "Canon EOS R5",
            "lens": "RF24-105mm F4 L IS USM",
        },
    ),
    "winter/scan.png": (saved(photo(4, (64, 48)), "PNG"), {"taken_from": "none"}),  # no EXIF: no date
    "winter/unset-clock.jpg": (  # a camera whose clock was never set, and a GPS without a fix
        saved(
            photo(5, (64, 48)),
            "JPEG",
            exif_block("0000:00:00 00:00:00", "NIKON CORPORATION", "NIKON D750", gps=(0.0, 0.0)),
        ),
        {
            "taken_from": "none",
            "camera": "NIKON D750",
            "camera_make": "NIKON CORPORATION",
            "camera_model": "NIKON D750",
        },
    ),
}


def test_exif_is_read_from_the_bytes_as_pillow_reads_it():
    for _, (data, expected) in LIBRARY.items():
        assert photo_facts(decode(data).exif) == expected
        assert photo_facts(decode(data, target_side=16).exif) == expected  # at a reduced scale too
    assert camera_name("OLYMPUS IMAGING CORP.", "E-M5") == "OLYMPUS IMAGING CORP. E-M5"
    assert camera_name("", "Pixel 8") == "Pixel 8"
    # The clock without sub-seconds falls back to the digitized time, and says so.
    digitized = exif_block(more={0x9004: "2021:02:03 04:05:06", 0x9012: "-05:00"})
    assert photo_facts(digitized) == {
        "taken_at": "2021-02-03T04:05:06",
        "taken_offset": "-05:00",
        "taken_from": "DateTimeDigitized",
    }


def test_a_phones_block_reads_as_pillows_own_exif_parser_reads_it():
    """The reader picks a dozen tags straight from the bytes; Pillow's parser, which reads every
    tag of the block, is the independent computation it must agree with."""
    for n in range(0, 400, 37):  # dates, sub-seconds and positions that vary with n
        block = phone_exif(n)
        exif = Image.Exif()
        exif.load(block)
        details, gps = exif.get_ifd(0x8769), exif.get_ifd(0x8825)
        when = dt.datetime.strptime(details[0x9003], "%Y:%m:%d %H:%M:%S")
        when = when.replace(microsecond=int(details[0x9291].ljust(6, "0")))
        lat, lon = (float(sum(part / 60**i for i, part in enumerate(gps[tag]))) for tag in (2, 4))
        expected = {
            "taken_at": when.isoformat(timespec="milliseconds" if when.microsecond else "seconds"),
            "taken_offset": details[0x9011],
            "taken_from": "DateTimeOriginal",
            "camera": f"{exif[0x010F]} {exif[0x0110]}",
            "camera_make": exif[0x010F],
            "camera_model": exif[0x0110],
            "lens": details[0xA434],
            "location": {"lat": round(lat, 7), "lon": round(lon, 7)},
        }
        assert photo_facts(block) == expected, n


@pytest.mark.parametrize("cut", [0, 7, 12, 40, 90, -30])
def test_a_damaged_exif_block_gives_what_it_can_and_never_an_error(cut):
    whole = decode(LIBRARY["summer/paris.jpg"][0]).exif
    damaged = whole[:cut] if cut > 0 else whole[:cut] + b"\xff" * 8
    assert photo_facts(damaged)["taken_from"] in ("DateTimeOriginal", "none")
    rng = np.random.default_rng(abs(cut))
    for _ in range(200):
        noisy = np.frombuffer(whole, np.uint8).copy()
        noisy[rng.integers(0, len(noisy), 12)] = rng.integers(0, 256, 12)
        assert set(photo_facts(noisy.tobytes())) <= set(FACT_FIELDS)


@pytest.fixture
def library(home_copy, tmp_path) -> tuple[Path, Path]:
    """The sample's data directory with LIBRARY loaded into its collection, by its model."""
    folder = tmp_path / "library"
    for path, (data, _) in LIBRARY.items():
        (folder / path).parent.mkdir(parents=True, exist_ok=True)
        (folder / path).write_bytes(data)
    loaded = run_cli(home_copy, "load", str(folder), "--json")
    assert loaded.returncode == 0, loaded.stderr
    assert json.loads(loaded.stdout)["indexed"] == len(LIBRARY)
    return home_copy, folder


def stored_payloads(home: Path) -> dict[str, dict]:
    with store_at(home) as store:
        physical = cols.require(store, "animals").physical
        points = store.points(physical)
        return {r.payload["path"]: r.payload for r in points if Path(r.payload["source"]).name == "library"}


def test_a_load_stores_each_photos_date_camera_and_place_exactly(library):
    home, _ = library
    payloads = stored_payloads(home)
    for path, (_, expected) in LIBRARY.items():
        assert {k: v for k, v in payloads[path].items() if k in FACT_FIELDS} == expected, path
    # The sample's thumbnails have no EXIF: each says so, and none has a date made up.
    with store_at(home) as store:
        physical = cols.require(store, "animals").physical
        sample = [r.payload for r in store.points(physical) if Path(r.payload["source"]).name != "library"]
    assert len(sample) == 300 and all(p["taken_from"] == "none" and "taken_at" not in p for p in sample)


def search(home: Path, *args: str) -> list[str]:
    result = run_cli(home, "search", *args, "-k", "400", "--json")
    assert result.returncode == 0, result.stderr
    return sorted(hit["path"] for hit in json.loads(result.stdout))


def test_searches_narrowed_by_date_and_camera_return_exactly_the_photos_in_range(library):
    home, folder = library
    query = str(folder / "winter/scan.png")
    summer = search(home, query, "--taken-after", "2024-06-01", "--taken-before", "2024-09-01")
    assert summer == ["summer/paris.jpg", "summer/rio.heic"]
    assert search(home, query, "--taken-after", "2024-06-01T14:30:05.300") == ["autumn/canon.jpg", "summer/rio.heic"]
    assert search(home, query, "--taken-before", "2024-06") == []
    assert search(home, query, "--camera", "iphone") == ["summer/paris.jpg", "summer/rio.heic"]
    assert search(home, query, "--camera", "canon eos r5", "--taken-after", "2024") == ["autumn/canon.jpg"]
    assert search(home, query, "--near", "48.86,2.29,5") == ["summer/paris.jpg"]

    wrong = run_cli(home, "search", query, "--camera", "leica")
    assert wrong.returncode == 2
    assert wrong.stderr.strip().startswith("error: --camera 'leica' matches no camera of this collection: give one of")
    swapped = run_cli(home, "search", query, "--taken-after", "2024-09-01", "--taken-before", "2024-06-01")
    assert swapped.returncode == 2 and "is not before --taken-before" in swapped.stderr
    assert "not a date" in run_cli(home, "search", query, "--taken-after", "last summer").stderr

    evaluated = run_cli(home, "evaluate", "-k", "1", "--taken-after", "2024-06-01", "--json")
    assert evaluated.returncode == 0, evaluated.stderr
    assert json.loads(evaluated.stdout)["points"] == 3


def test_a_collection_loaded_before_exif_was_read_is_filled_by_a_reload_without_re_embedding(library):
    home, folder = library
    with store_at(home) as store:  # as an earlier version stored them: no facts at all
        physical = cols.require(store, "animals").physical
        before = {r.id: r for r in store.points(physical, vectors=True) if Path(r.payload["source"]).name == "library"}
        from ingest.store import Point

        bare = [
            Point(r.id, r.vector, {k: v for k, v in r.payload.items() if k not in FACT_FIELDS}) for r in before.values()
        ]
        store.upsert(physical, bare)
    assert all("taken_from" not in p for p in stored_payloads(home).values())

    reloaded = run_cli(home, "load", str(folder), "--json")
    assert reloaded.returncode == 0, reloaded.stderr
    report = json.loads(reloaded.stdout)
    assert (report["indexed"], report["already_present"], report["exif_filled"]) == (0, len(LIBRARY), len(LIBRARY))
    payloads = stored_payloads(home)
    for path, (_, expected) in LIBRARY.items():
        assert {k: v for k, v in payloads[path].items() if k in FACT_FIELDS} == expected, path
    with store_at(home) as store:
        after = {r.id: r for r in store.points(physical, vectors=True) if Path(r.payload["source"]).name == "library"}
    assert all(np.array_equal(after[i].vector, before[i].vector) for i in before)  # the same vectors
    assert all(after[i].payload["ingested_at"] == before[i].payload["ingested_at"] for i in before)
    again = json.loads(run_cli(home, "load", str(folder), "--json").stdout)
    assert again["exif_filled"] == 0  # filled once


def browsed(at) -> list[str]:
    """The captions of the Browse tab's pictures, in page order."""
    return [as_read(c) for image in at.image for c in image.captions]


def test_the_page_narrows_by_date_range_and_camera_and_browses_by_date_taken(monkeypatch, library):
    import datetime as dt

    from streamlit.testing.v1 import AppTest

    from test_ui_apptest import APP, point_page_at, results

    home, _ = library
    point_page_at(monkeypatch, home)
    at = AppTest.from_file(APP, default_timeout=90)
    at.session_state["view"] = "Browse"
    at.run()
    assert not at.exception, at.exception
    camera = at.sidebar.selectbox(key="camera")
    assert camera.options[:1] == ["(all cameras)"] and len(camera.options) == 5  # 4 cameras
    at.selectbox(key="browse_order").set_value("date taken, newest first").run()
    assert browsed(at) == [
        "2024-09-01 00:00 · canon.jpg",
        "2024-08-31 23:59 · rio.heic",
        "2024-06-01 14:30 · paris.jpg",
    ]
    assert any("302 photos whose files record no date" in c.value for c in at.caption)
    at.sidebar.selectbox(key="camera").set_value("Apple iPhone 13").run()
    assert browsed(at) == ["2024-06-01 14:30 · paris.jpg"]
    at.sidebar.selectbox(key="camera").set_value("(all cameras)").run()
    at.sidebar.date_input(key="taken").set_value((dt.date(2024, 8, 1), dt.date(2024, 9, 1))).run()
    assert browsed(at) == ["2024-09-01 00:00 · canon.jpg", "2024-08-31 23:59 · rio.heic"]  # both days included
    # The search honours the same range: a random pick and its results are photos of those days.
    at.button(key="random").click().run()
    at.session_state["view"] = "Search"
    at.run()
    assert not at.exception, at.exception
    found = results(at)  # one result besides the pick itself: the other photo of those days
    assert len(found) == 1 and found[0][2] in ("summer", "autumn")
    said = [as_read(c.value) for c in at.caption]
    assert any(c.startswith("only 1 photos are taken from 2024-08-01 to before 2024-09-02") for c in said)


def test_a_collection_made_before_dates_and_cameras_keeps_working_until_loaded_again(monkeypatch, library):
    import qdrant_edge as qe
    from streamlit.testing.v1 import AppTest

    from ingest.store import Point

    from test_ui_apptest import APP, point_page_at

    home, folder = library
    with store_at(home) as store:  # as an earlier version left it: no such fields, no such indexes
        physical = cols.require(store, "animals").physical
        points = list(store.points(physical, vectors=True))
        store.upsert(
            physical,
            [Point(r.id, r.vector, {k: v for k, v in r.payload.items() if k not in FACT_FIELDS}) for r in points],
        )
        for field in ("taken_at", "location", "camera"):
            store._shard(physical).update(qe.UpdateOperation.delete_field_index(field))
        assert sorted(store.missing_payload_indexes(physical)) == ["camera", "location", "taken_at"]
    point_page_at(monkeypatch, home)
    at = AppTest.from_file(APP, default_timeout=90)
    at.session_state["view"] = "Browse"
    at.run()
    assert not at.exception, at.exception
    assert not at.sidebar.date_input and len(browsed(at)) == 24  # no filters to offer, browsing as before
    query = str(folder / "winter/scan.png")
    assert len(search(home, query)) == 305 and search(home, query, "--taken-after", "2024") == []
    wrong = run_cli(home, "search", query, "--camera", "canon")
    assert wrong.returncode == 2 and "loaded before cameras were read: load its photos again" in wrong.stderr
    assert run_cli(home, "load", str(folder)).returncode == 0  # the library's facts and the indexes come back
    assert search(home, query, "--camera", "canon") == ["autumn/canon.jpg"]
