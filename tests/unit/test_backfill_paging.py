"""The offset walk: overlap, drift detection, backtracking, de-duplication (no I/O)."""

from __future__ import annotations

from typing import Any

import pytest
from clerk_sync.adapters.clerk.paging import Page, Walk, default_overlap, walk
from hypothesis import given, settings
from hypothesis import strategies as st


class Listing:
    """An ordered list that changes between page reads, like Clerk's during a walk."""

    def __init__(self, ids: list[int], changes: dict[int, list[tuple[str, int]]] | None = None) -> None:
        self.ids = list(ids)
        self.changes = changes or {}
        self.reads: list[int] = []
        self.next_id = max(ids, default=0) + 1

    def fetch(self, offset: int, limit: int) -> Page:
        for action, position in self.changes.get(len(self.reads), []):
            if action == "delete" and self.ids:
                del self.ids[position % len(self.ids)]
            elif action == "append":
                self.ids.append(self.next_id)
                self.next_id += 1
        self.reads.append(offset)
        return Page([{"id": i} for i in self.ids[offset : offset + limit]], len(self.ids))


def run(listing: Listing, limit: int, overlap: int | None = None) -> tuple[list[int], Walk[int]]:
    state: Walk[int] = Walk()
    out: list[int] = []
    for fresh in walk(listing.fetch, lambda o: o["id"], state, limit=limit, overlap=overlap):
        out.extend(o["id"] for o in fresh)
    return out, state


def test_a_still_list_is_read_once_with_overlapping_pages() -> None:
    listing = Listing(list(range(1_000)))

    read, state = run(listing, limit=500)

    assert read == list(range(1_000)) and state.complete and state.total == 1_000
    assert listing.reads == [0, 475, 950] and default_overlap(500) == 25


def test_an_exact_multiple_ends_on_the_overlap() -> None:
    listing = Listing(list(range(40)))

    read, state = run(listing, limit=20, overlap=1)

    assert read == list(range(40)) and state.complete and listing.reads == [0, 19, 38]


def test_more_deletions_than_the_overlap_step_back_instead_of_skipping() -> None:
    listing = Listing(list(range(100)), {2: [("delete", 0)] * 6})

    read, state = run(listing, limit=20, overlap=2)

    assert set(read) == set(range(100)) and state.complete and state.backtracks == 1


def test_a_gap_that_cannot_be_closed_makes_the_walk_incomplete() -> None:
    deletions = {n: [("delete", 0)] * 30 for n in range(1, 8)}
    listing = Listing(list(range(400)), deletions)

    _, state = run(listing, limit=20, overlap=2)

    assert state.gap and not state.complete


def test_objects_without_a_key_are_passed_on() -> None:
    state: Walk[str] = Walk()
    pages = walk(lambda o, n: Page([{"x": 1}, {"id": "a"}]), lambda o: o.get("id"), state, limit=5)

    assert list(pages) == [[{"x": 1}, {"id": "a"}]] and state.seen == {"a"}


def test_limits_outside_clerks_range_are_refused() -> None:
    with pytest.raises(ValueError):
        list(walk(lambda o, n: Page([]), lambda o: None, Walk(), limit=501))


changes = st.dictionaries(
    st.integers(0, 12),
    st.lists(st.tuples(st.sampled_from(["delete", "append"]), st.integers(0, 10_000)), max_size=8),
    max_size=6,
)


@given(size=st.integers(0, 300), limit=st.integers(2, 60), changes=changes)
@settings(max_examples=300, deadline=None)
def test_a_complete_walk_misses_nothing_that_lived_throughout(
    size: int, limit: int, changes: dict[int, Any]
) -> None:
    listing = Listing(list(range(size)), changes)

    read, state = run(listing, limit=limit)

    assert len(read) == len(set(read))  # nothing twice
    if state.complete:
        survivors = set(range(size)) & set(listing.ids)
        assert survivors <= set(read)
