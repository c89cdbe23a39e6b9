"""offset/limit paging of MetaStudio lists (docs/vendors/huawei-metastudio.md §1: `offset`,
`limit` ≤ 100, and `count`, the number of every match of the query, filters included)."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from jobs.providers import fields
from jobs.providers.base import Listed, Page, ResponseError
from jobs.providers.huawei.parsers import checked

Fetch = Callable[[int, int], tuple[dict, str]]  # (offset, limit) -> (JSON object, request id)


def offset_pages(
    fetch: Fetch,
    items_key: str,
    parse_item: Callable,
    operation: str,
    *,
    page_size: int,
    ahead: int = 0,
    on_page: Callable[[str], None] | None = None,
) -> Iterator[Page]:
    """offset/limit pages until ``count`` is reached or a page comes back empty.

    ``parse_item`` makes a JobRecord, a Listed job or an op-log entry of each item. With
    ``ahead`` > 0, the requests for the next ``ahead`` pages go out (from helper threads) as
    soon as this page's count is known, so the vendor works on them while this one is parsed
    and stored; ``on_page`` then hears the request id of each page handed out. Pages still
    come in order, and an error surfaces at the page it belongs to."""
    helper = None
    if ahead > 0:
        helper = FetchAhead(fetch, ahead, thread_name_prefix="metastudio-fetch-ahead")
    try:
        yield from _pages(helper or fetch, items_key, parse_item, operation, page_size, helper, on_page)
    finally:
        if helper is not None:
            helper.close()


def _pages(fetch, items_key, parse_item, operation, page_size, helper, on_page) -> Iterator[Page]:
    offset = 0
    previous_ids: list[str] | None = None
    pages = 0
    max_count = 0
    while True:
        data, request_id = fetch(offset, page_size)
        if helper is not None and on_page is not None:
            on_page(request_id)  # the page in hand, not the one fetched ahead
        count, items = checked(  # the lambda runs at once, inside checked
            lambda: (fields.integer(data, "count", minimum=0), fields.object_list(data, items_key)),  # noqa: B023
            operation,
        )
        if count is None:
            raise ResponseError(f"{operation}: response has no count", request_id=request_id)
        step = min(len(items), page_size)
        next_offset = offset + step
        if helper is not None and items:
            # Pages are assumed to keep this page's length (a server may cap them).
            helper.start(next_offset, page_size, step, count)
        records = [parse_item(item) for item in items]
        ids = [r.remote_id for r in records]
        # A server that ignores offset would otherwise be paged until `count` runs out.
        if ids and ids == previous_ids:
            raise ResponseError(
                f"{operation}: the page at offset {offset} repeats the previous page; listing stopped",
                request_id=request_id,
            )
        pages += 1
        max_count = max(max_count, count)
        if pages > math.ceil(max_count / page_size) + 5:
            raise ResponseError(
                f"{operation}: more pages than count={max_count} allows; listing stopped", request_id=request_id
            )
        # A server may cap pages below our limit (advance by what came) or send more than
        # asked, e.g. repeating jobs from the previous page (advance by the limit, or skip some).
        offset = next_offset
        done = not items or offset >= count
        listed = records if records and isinstance(records[0], Listed) else None
        yield Page(
            None if listed else records,
            total=count,
            next_cursor=None if done else offset,
            request_id=request_id,
            listed=listed,
        )
        if done:
            return
        previous_ids = ids


class FetchAhead:
    """``fetch(offset, limit)`` run up to ``depth`` calls ahead in helper threads, for an
    offset/limit listing (offset_pages).

    Calling it returns the answer for that offset: the one fetched ahead when it matches, or
    a fresh call. A helper's exception is raised by the call that wanted its answer.
    """

    def __init__(self, fetch: Callable[[int, int], Any], depth: int, *, thread_name_prefix: str = "fetch-ahead"):
        self._fetch = fetch
        self._depth = depth
        self._pool = ThreadPoolExecutor(max_workers=depth, thread_name_prefix=thread_name_prefix)
        self._pending: dict[tuple[int, int], Future] = {}

    def start(self, offset: int, limit: int, step: int, count: int) -> None:
        """Fetch the pages at ``offset``, ``offset + step``… (below ``count``) not under way yet."""
        for _ in range(self._depth):
            if offset >= count or len(self._pending) >= self._depth:
                return
            key = (offset, limit)
            if key not in self._pending:
                self._pending[key] = self._pool.submit(self._fetch, offset, limit)
            offset += step

    def __call__(self, offset: int, limit: int):
        future = self._pending.pop((offset, limit), None)
        if future is None:
            self._cancel()  # the listing moved differently from what was fetched ahead
            return self._fetch(offset, limit)
        return future.result()

    def _cancel(self):
        for future in self._pending.values():
            future.cancel()
        self._pending.clear()

    def close(self) -> None:
        """Waits for requests still in flight (bounded by the HTTP timeouts); their answers are dropped."""
        self._cancel()
        self._pool.shutdown(wait=True)
