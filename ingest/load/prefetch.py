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
from collections.abc import Generator, Iterable
from typing import TypeVar

T = TypeVar("T")
_DONE = object()


class _Raised:
    def __init__(self, error: BaseException) -> None:
        self.error = error


def prefetched(items: Iterable[T], depth: int, chunk: int = 32) -> Generator[T, None, None]:
    """The items of `items`, produced up to `depth` ahead on a background thread and handed over
    `chunk` at a time: a hand-over wakes the other thread, and one per photo kept both switching
    (a tenth of the reading thread's time went to the kernel's task switches)."""
    ahead: queue.Queue = queue.Queue(maxsize=max(1, depth // chunk))
    stop = threading.Event()

    def produce() -> None:
        iterator = iter(items)
        pending: list = []
        try:
            for item in iterator:
                pending.append(item)
                if len(pending) == chunk:
                    if not _put(ahead, pending, stop):
                        return
                    pending = []
            if _put(ahead, pending, stop):
                _put(ahead, _DONE, stop)
        except BaseException as exc:  # handed to the consumer, which decides what it means
            if _put(ahead, pending, stop):  # the items before it come first
                _put(ahead, _Raised(exc), stop)
        finally:
            close = getattr(iterator, "close", None)
            if close is not None:
                close()

    thread = threading.Thread(target=produce, name="prefetch", daemon=True)
    thread.start()
    try:
        while (handed := ahead.get()) is not _DONE:
            if isinstance(handed, _Raised):
                raise handed.error
            yield from handed
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
