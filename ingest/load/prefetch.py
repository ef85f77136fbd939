"""Running an iterator ahead on a thread of its own, so that reading and decoding the next
photos overlap embedding the current ones: zip reads, JPEG decoding and torch's resize all
release the GIL, so this thread runs beside the embedding threads rather than taking turns.

The iterator is started, advanced and closed on that thread only (a generator cannot be closed
from another thread while it runs), so its `finally` blocks, such as the end of its progress
line, run there. An exception it raises is raised again in the consumer, in order: the items
before it are consumed first.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")
_DONE = object()


class _Raised:
    def __init__(self, error: BaseException) -> None:
        self.error = error


def prefetched(items: Iterable[T], depth: int) -> Iterator[T]:
    """The items of `items`, produced up to `depth` ahead on a background thread."""
    ahead: queue.Queue = queue.Queue(maxsize=max(1, depth))
    stop = threading.Event()

    def produce() -> None:
        iterator = iter(items)
        try:
            for item in iterator:
                if not _put(ahead, item, stop):
                    return
            _put(ahead, _DONE, stop)
        except BaseException as exc:  # handed to the consumer, which decides what it means
            _put(ahead, _Raised(exc), stop)
        finally:
            close = getattr(iterator, "close", None)
            if close is not None:
                close()

    thread = threading.Thread(target=produce, name="prefetch", daemon=True)
    thread.start()
    try:
        while (item := ahead.get()) is not _DONE:
            if isinstance(item, _Raised):
                raise item.error
            yield item
    finally:
        stop.set()  # the consumer stopped early, failed, or is done: the producer stops too
        thread.join()


def _put(ahead: queue.Queue, item: object, stop: threading.Event) -> bool:
    """Waits for room, checking now and then whether the consumer has gone."""
    while not stop.is_set():
        try:
            ahead.put(item, timeout=0.1)
            return True
        except queue.Full:
            continue
    return False
