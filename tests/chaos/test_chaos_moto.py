"""Chaos delivery against moto (a file per engine, so both can run in parallel)."""

import pytest
from chaos_harness import run_chaos


@pytest.mark.parametrize("backend", ["moto"], indirect=True)
def test_chaos_delivery_converges(stack, backend):
    run_chaos(stack, backend.name)
