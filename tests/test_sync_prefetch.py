"""jobs.sync.prefetch: pages fetched ahead by a helper thread, in order, errors at their page."""

import threading

import pytest

from jobs.providers.base import ProviderError
from jobs.sync.prefetch import Prefetched
from tests.fixtures_sync import transport_error


class _Pages:
    """A page iterator that says when it was first asked for a page and when it was closed."""

    def __init__(self, pages, fail_at=None):
        self.pages, self.fail_at, self.served = pages, fail_at, 0
        self.started, self.closed = threading.Event(), threading.Event()

    def __iter__(self):
        return self

    def __next__(self):
        self.started.set()
        if self.served == self.fail_at:
            raise transport_error()
        if self.served == len(self.pages):
            raise StopIteration
        self.served += 1
        return self.pages[self.served - 1]

    def close(self):
        self.closed.set()


def test_prefetching_starts_before_the_first_page_is_asked_for_and_keeps_order():
    pages = _Pages(["p1", "p2", "p3"])

    with Prefetched(pages, depth=1) as prefetched:
        assert pages.started.wait(5)  # fetching while the caller does other work
        assert [page for page, _ in prefetched] == ["p1", "p2", "p3"]

    assert pages.closed.is_set()


def test_prefetching_raises_an_error_at_its_page_and_stops_when_the_block_is_left_early():
    failing = _Pages(["p1", "p2", "p3"], fail_at=2)
    got = []
    with pytest.raises(ProviderError), Prefetched(failing, depth=1) as prefetched:
        got.extend(page for page, _ in prefetched)
    assert got == ["p1", "p2"] and failing.closed.is_set()

    endless = _Pages([f"p{i}" for i in range(1000)])
    with Prefetched(endless, depth=2):
        assert endless.started.wait(5)  # never iterated: leaving must not hang on a full buffer
    assert endless.closed.is_set() and endless.served < 10
