"""The build's endpoint data cut (functions/trim_endpoints.py): every client the functions create
sends the same request to the same URL, signed for the same region and service, in every region of
every partition botocore knows, with and without FIPS, as with botocore's full data."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import botocore
import botocore.session
import pytest
from botocore.config import Config
from botocore.loaders import Loader
from clerk_sync.aws_services import SERVICES
from trim_endpoints import endpoint_prefix, trimmed, used_services

DATA = Path(botocore.__file__).parent / "data"
FULL = json.loads((DATA / "endpoints.json").read_text(encoding="utf-8"))
PREFIXES = {endpoint_prefix(DATA, service) for service in SERVICES}
CHEAP_CALLS = {
    "dynamodb": ("list_tables", {}),
    "sqs": ("list_queues", {}),
    "sesv2": ("get_account", {}),
    "secretsmanager": ("list_secrets", {}),
}
REGIONS = sorted({region for partition in FULL["partitions"] for region in partition["regions"]})


class _Sent(Exception):
    def __init__(self, url: str, scope: str) -> None:
        super().__init__(url, scope)


class _EndpointsLoader(Loader):
    def __init__(self, endpoints: dict[str, Any]) -> None:
        super().__init__()
        self._endpoints = endpoints

    def load_data(self, name: str) -> Any:
        return self._endpoints if name == "endpoints" else super().load_data(name)


def _session(endpoints: dict[str, Any]) -> botocore.session.Session:
    session = botocore.session.Session()
    session.register_component("data_loader", _EndpointsLoader(endpoints))
    return session


def _target(session: botocore.session.Session, service: str, region: str, fips: bool) -> tuple[str, ...]:
    """Where the client sends its first request and how it signs it, or why it cannot."""

    def stop(request: Any, **_: Any) -> None:
        scope = request.headers["Authorization"].decode().split("Credential=")[1].split(",")[0]
        raise _Sent(request.url, scope.split("/", 2)[2])  # region/service/aws4_request

    try:
        client = session.create_client(
            service, region_name=region, aws_access_key_id="k", aws_secret_access_key="s",
            config=Config(use_fips_endpoint=fips, retries={"max_attempts": 0}),
        )  # fmt: skip
        client.meta.events.register("before-send", stop)
        seen = (client.meta.endpoint_url, client.meta.partition, client.meta.region_name)
        operation, arguments = CHEAP_CALLS[service]
        getattr(client, operation)(**arguments)
    except _Sent as sent:
        return ("sent", *seen, *sent.args)
    except Exception as error:  # an unsupported region or variant fails alike, or the test says how
        return ("failed", type(error).__name__, str(error))
    return ("no request",)


def test_the_build_reads_the_functions_services():
    assert used_services() == SERVICES
    assert {"dynamodb", "sqs", "email", "secretsmanager"} == PREFIXES


def test_only_the_functions_services_are_left_and_every_partition_is_whole():
    cut = trimmed(FULL, PREFIXES)
    assert len(json.dumps(cut)) < len(json.dumps(FULL)) / 20
    for kept, full in zip(cut["partitions"], FULL["partitions"], strict=True):
        assert set(kept["services"]) == PREFIXES & set(full["services"])
        assert {k: v for k, v in kept.items() if k != "services"} == {
            k: v for k, v in full.items() if k != "services"
        }
        assert all(kept["services"][name] == full["services"][name] for name in kept["services"])


@pytest.mark.parametrize("service", SERVICES)
def test_every_region_resolves_as_with_the_full_data(service):
    full, cut = _session(FULL), _session(trimmed(FULL, PREFIXES))
    targets = 0
    for region in [*REGIONS, "eu-future-9"]:  # and a region newer than this botocore
        for fips in (False, True):
            expected = _target(full, service, region, fips)
            assert _target(cut, service, region, fips) == expected, (region, fips)
            targets += expected[0] == "sent"
    assert targets > len(REGIONS)  # most regions really sent a request: the comparison is not vacuous
