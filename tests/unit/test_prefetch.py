"""Reading ahead on a thread: the same items in the same order, errors where they happened, and
a reader stopped early is closed on its own thread."""

from __future__ import annotations

import threading

import pytest

from ingest.load.prefetch import prefetched


def test_every_item_comes_in_order_from_another_thread():
    threads = set()

    def numbers():
        for n in range(1000):
            threads.add(threading.current_thread().name)
            yield n

    assert list(prefetched(numbers(), depth=7)) == list(range(1000))
    assert threads == {"prefetch"}


def test_an_error_comes_after_the_items_before_it():
    def failing():
        yield from range(5)
        raise OSError("disk gone")

    seen = []
    with pytest.raises(OSError, match="disk gone"):
        for n in prefetched(failing(), depth=2):
            seen.append(n)
    assert seen == [0, 1, 2, 3, 4]


def test_a_consumer_that_stops_early_closes_the_reader_on_its_thread():
    closed_on = []

    def endless():
        try:
            n = 0
            while True:
                yield n
                n += 1
        finally:
            closed_on.append(threading.current_thread().name)

    before = threading.active_count()
    items = prefetched(endless(), depth=3)
    with pytest.raises(RuntimeError, match="consumer failed"):
        for n in items:
            if n == 10:
                raise RuntimeError("consumer failed")
    items.close()
    assert closed_on == ["prefetch"]
    assert threading.active_count() == before  # the thread is gone, not left blocked on a full queue
