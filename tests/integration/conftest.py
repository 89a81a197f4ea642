"""A fresh receiver per test, on each backend."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from stacks import Stack, make_stack


@pytest.fixture
def stack(backend: Any, request: pytest.FixtureRequest) -> Iterator[Stack]:
    """A receiver with its own fresh tables and queue."""
    yield make_stack(backend, request.node.name)
