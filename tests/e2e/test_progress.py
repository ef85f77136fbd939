"""Progress when the output is a log, not a terminal (`ingest load photos.zip > load.log`): each
long phase shows as plain lines written as they happen, not all at the end."""

from __future__ import annotations

import itertools
import time

from conftest import start_cli


def test_a_logged_load_writes_each_epoch_as_it_ends(mini_zip, tmp_path):
    started = time.monotonic()
    load = start_cli(tmp_path / "home", "load", str(mini_zip), "--epochs", "3")
    arrivals = [(time.monotonic() - started, line.rstrip("\n")) for line in load.stderr]  # as they come
    load.wait(timeout=300)
    finished = time.monotonic() - started
    assert load.returncode == 0
    epochs = [(t, line) for t, line in arrivals if line.startswith("epoch ")]
    # An epoch longer than LOG_EVERY_S (a busy host) also has lines while it runs: one number each.
    assert [n for n, _ in itertools.groupby(line.split()[1] for _, line in epochs)] == ["1/3", "2/3", "3/3"]
    assert all("loss" in line and "\x1b" not in line for _, line in epochs)  # plain text, no terminal codes
    assert epochs[0][0] < epochs[-1][0] - 0.5 < finished  # the first epoch was told while training went on
    assert any(line.startswith("input side") for _, line in arrivals)
