"""Walking an offset-paged Clerk list without silently skipping anything (no I/O: `fetch` is injected).

Clerk's list endpoints page by `limit`/`offset`, and `clerk-backend-api` 7.0.0 offers no cursor
(`starting_after`) on users. Offsets drift while the instance changes: a deletion before the current
position shifts every later object one place back, and an offset walk then skips one. The walk here:

- reads in ascending `created_at` order, so that objects created during the walk land at the end
  instead of shifting what is still to come;
- overlaps consecutive pages by `overlap` objects and requires each page to contain one of the previous
  page's last `overlap` ids (the anchor). Fewer than `overlap` deletions between two reads are absorbed;
  more are detected, and the walk steps back a page until it finds the anchor again (at most
  `max_backtracks` times, after which it carries on but reports the walk incomplete);
- de-duplicates by id, so re-reads yield nothing twice.

`complete` is True only when every page was read and no gap could have opened: reconciliation acts
on a complete walk only.

A walk resumes from a `Walk` whose `offset` and `anchor` were kept after the last completed page (a
resumed run, backfill/runs.py): the first page read is checked against that anchor like any other.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

K = TypeVar("K", bound=Hashable)

MAX_PAGE_SIZE = 500  # Clerk's maximum `limit`


def default_overlap(limit: int) -> int:
    """5 % of a page (25 of 500): one extra request per 20 pages."""
    return max(1, limit // 20)


@dataclass(frozen=True)
class Page:
    """One answer of a list endpoint: its objects in order, and the total when the API gives one."""

    items: Sequence[dict[str, Any]]
    total: int | None = None


@dataclass
class Walk(Generic[K]):
    """What a walk has seen so far."""

    seen: set[K] = field(default_factory=set)
    pages: int = 0
    backtracks: int = 0
    complete: bool = False
    gap: bool = False  # True when skipped objects could not be ruled out
    total: int | None = None
    offset: int = 0  # where the next page starts
    anchor: set[K] = field(default_factory=set)  # ids the next page must contain one of
    done: bool = False  # the last page was read


def walk(
    fetch: Callable[[int, int], Page],
    key: Callable[[dict[str, Any]], K | None],
    state: Walk[K],
    limit: int = MAX_PAGE_SIZE,
    overlap: int | None = None,
    max_backtracks: int = 3,
) -> Iterator[list[dict[str, Any]]]:
    """Yield, page by page, the objects not seen before (objects whose key is None are yielded too),
    starting at `state.offset`; when a page is yielded, `state` already says where the next one starts."""
    if not 2 <= limit <= MAX_PAGE_SIZE:
        raise ValueError(f"limit must be 2..{MAX_PAGE_SIZE}")
    overlap = min(default_overlap(limit) if overlap is None else max(1, overlap), limit - 1)
    step = limit - overlap
    offset, anchor = state.offset, set(state.anchor)
    backtracks_here = 0
    while True:
        page = fetch(offset, limit)
        state.pages += 1
        if page.total is not None:
            state.total = page.total
        keys = [key(item) for item in page.items]
        if anchor and anchor.isdisjoint(keys):
            # Objects before this window were deleted since the last read: some may have moved past it.
            if offset > 0 and backtracks_here < max_backtracks:
                backtracks_here += 1
                state.backtracks += 1
                offset = max(0, offset - step)
                continue
            state.gap = True
        backtracks_here = 0
        fresh = [item for item, k in zip(page.items, keys, strict=True) if k is None or k not in state.seen]
        state.seen.update(k for k in keys if k is not None)
        if len(page.items) < limit:
            state.done, state.complete = True, not state.gap
        else:
            anchor = {k for k in keys[step:] if k is not None}
            offset += step
        state.offset, state.anchor = offset, anchor
        yield fresh
        if state.done:
            return
