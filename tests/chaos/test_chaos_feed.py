"""Chaos delivery with the change feed on, on both engines: the tables converge as without it, and the
feed publishes exactly the states they held (chaos_feed.py), whatever the publisher and the bus do."""

import pytest
from chaos_harness import run_chaos
from stacks import make_stack


@pytest.mark.parametrize("backend", ["moto", "dynamodb-local"], indirect=True)
def test_chaos_delivery_with_the_change_feed(backend, request):
    run_chaos(make_stack(backend, request.node.name, feed=True), backend.name, feed=True)
