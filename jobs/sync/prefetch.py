"""Fetch-ahead of listing pages: a helper thread reads the next pages while this one writes."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator

# Pages fetched ahead of the one being written (bounded memory: this many pages).
PREFETCH_PAGES = 2

_DONE = object()


class Prefetched:
    """Iterate `pages` as (page, prepared) while a helper thread fetches the next ones.

        with Prefetched(provider.iter_pages(kind), prepare=...) as pages:
            ...                       # the first pages are already being fetched
            for page, prepared in pages:
                ...

    The vendor answers the next page while this thread writes the current one, so a sync
    costs about max(listing, writing) instead of their sum. Order and error position are
    kept: pages before a ProviderError are yielded, then the error is raised here. The
    provider is used by the helper thread only, and no transaction waits on it. Leaving the
    block stops the helper (and closes `pages`) whether or not every page was taken.

    `prepare(page)` runs in the helper thread only while the buffer is full (the writer is
    the bottleneck and the helper would otherwise wait); `prepared` is its result or None.
    """

    def __init__(self, pages: Iterator, depth: int = PREFETCH_PAGES, prepare: Callable | None = None):
        self._pages = pages
        self._depth = depth
        self._prepare = prepare
        self._buffer: queue.Queue = queue.Queue(maxsize=max(depth, 1))
        self._stop = threading.Event()
        self._worker = None

    def __enter__(self):
        if self._depth > 0:
            self._worker = threading.Thread(target=self._produce, name="sync-prefetch", daemon=True)
            self._worker.start()
        return self

    def __exit__(self, *exc_info):
        if self._worker is None:
            self._close_pages()
            return
        self._stop.set()
        while self._worker.is_alive():  # unblock a producer waiting on a full buffer
            try:
                self._buffer.get(timeout=0.2)
            except queue.Empty:
                pass
        self._worker.join()

    def __iter__(self) -> Iterator:
        if self._worker is None:
            for page in self._pages:
                yield page, None
            return
        while True:
            page, prepared, exc = self._buffer.get()
            if exc is not None:
                raise exc
            if page is _DONE:
                return
            yield page, prepared

    def _produce(self):
        buffer, stop, prepare = self._buffer, self._stop, self._prepare
        try:
            for page in self._pages:
                item = (page, None, None)
                try:
                    buffer.put_nowait(item)
                    continue
                except queue.Full:
                    if prepare is not None:
                        item = (page, prepare(page), None)
                while not stop.is_set():
                    try:
                        buffer.put(item, timeout=0.2)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            buffer.put((_DONE, None, None))
        except BaseException as exc:  # handed over to the consumer, in sequence
            buffer.put((None, None, exc))
        finally:
            self._close_pages()

    def _close_pages(self):
        close = getattr(self._pages, "close", None)
        if close is not None:
            close()
