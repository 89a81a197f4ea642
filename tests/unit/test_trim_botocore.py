"""The build's botocore data cut (functions/trim_botocore.py): every client the functions create sends
the same request to the same URL, signed for the same region and service, in every region of every
partition botocore knows, with and without FIPS, as with botocore's full data; every operation of
their services keeps its shapes, and only documentation strings are gone."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import botocore
import botocore.session
import pytest
from botocore.config import Config
from botocore.loaders import Loader
from botocore.model import OperationModel, ServiceModel, Shape
from clerk_sync.adapters.aws_services import SERVICES
from trim_botocore import model_path, read_json, trimmed, undocumented, used_services

DATA = Path(botocore.__file__).parent / "data"
FULL = json.loads((DATA / "endpoints.json").read_text(encoding="utf-8"))
MODELS = {service: read_json(model_path(DATA, service)) for service in SERVICES}
PREFIXES = {model["metadata"]["endpointPrefix"] for model in MODELS.values()}
CHEAP_CALLS = {
    "dynamodb": ("list_tables", {}),
    "sqs": ("list_queues", {}),
    "sesv2": ("get_account", {}),
    "sns": ("get_sms_attributes", {}),
    "secretsmanager": ("list_secrets", {}),
    "lambda": ("list_functions", {}),  # ReconcileFunction hands a run over to its next invocation
    "events": ("list_event_buses", {}),  # ChangesFunction publishes the change feed
}
REGIONS = sorted({region for partition in FULL["partitions"] for region in partition["regions"]})


class _Sent(Exception):
    def __init__(self, url: str, scope: str) -> None:
        super().__init__(url, scope)


class _TrimmedLoader(Loader):
    """botocore's loader, serving the data as the build leaves it in the artifact."""

    def load_data(self, name: str) -> Any:
        loaded = super().load_data(name)
        return trimmed(loaded, PREFIXES) if name == "endpoints" else loaded

    def load_service_model(self, service_name: str, type_name: str, api_version: str | None = None) -> Any:
        loaded = super().load_service_model(service_name, type_name, api_version)
        return undocumented(loaded) if type_name == "service-2" else loaded


def _session(loader: Loader) -> botocore.session.Session:
    session = botocore.session.Session()
    session.register_component("data_loader", loader)
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
    assert {"dynamodb", "sqs", "email", "sns", "secretsmanager", "lambda", "events"} == PREFIXES


def test_only_the_functions_services_are_left_and_every_partition_is_whole():
    cut = trimmed(FULL, PREFIXES)
    assert len(json.dumps(cut)) < len(json.dumps(FULL)) / 15
    for kept, full in zip(cut["partitions"], FULL["partitions"], strict=True):
        assert set(kept["services"]) == PREFIXES & set(full["services"])
        assert {k: v for k, v in kept.items() if k != "services"} == {
            k: v for k, v in full.items() if k != "services"
        }
        assert all(kept["services"][name] == full["services"][name] for name in kept["services"])


@pytest.mark.parametrize("service", SERVICES)
def test_every_region_resolves_as_with_the_full_data(service):
    full, cut = _session(Loader()), _session(_TrimmedLoader())
    targets = 0
    for region in [*REGIONS, "eu-future-9"]:  # and a region newer than this botocore
        for fips in (False, True):
            expected = _target(full, service, region, fips)
            assert _target(cut, service, region, fips) == expected, (region, fips)
            targets += expected[0] == "sent"
    assert targets > len(REGIONS)  # most regions really sent a request: the comparison is not vacuous


def _fingerprint(shape: Shape | None, seen: frozenset[str] = frozenset()) -> Any:
    """Everything botocore serializes and parses by: type, wire names, constraints, members."""
    if shape is None:
        return None
    own = (shape.name, shape.type_name, sorted(shape.serialization.items()), sorted(shape.metadata.items()))
    if shape.name in seen:  # recursive shapes
        return own
    inner = seen | {shape.name}
    if shape.type_name == "structure":
        return (*own, [(name, _fingerprint(member, inner)) for name, member in shape.members.items()])
    if shape.type_name == "list":
        return (*own, _fingerprint(shape.member, inner))
    if shape.type_name == "map":
        return (*own, _fingerprint(shape.key, inner), _fingerprint(shape.value, inner))
    return own


def _operation(operation: OperationModel) -> Any:
    return (
        operation.http,
        operation.metadata.get("protocol"),
        _fingerprint(operation.input_shape),
        _fingerprint(operation.output_shape),
        [_fingerprint(error) for error in operation.error_shapes],
        operation.context_parameters,
        operation.static_context_parameters,
    )


@pytest.mark.parametrize("service", SERVICES)
def test_every_operation_keeps_its_shapes_and_loses_only_its_documentation(service):
    full, cut = ServiceModel(MODELS[service]), ServiceModel(undocumented(MODELS[service]))
    assert cut.operation_names == full.operation_names
    assert cut.metadata == full.metadata
    for name in full.operation_names:
        assert _operation(cut.operation_model(name)) == _operation(full.operation_model(name)), name
        assert cut.operation_model(name).documentation == ""
    assert sum(bool(full.operation_model(n).documentation) for n in full.operation_names) > 0
    assert len(json.dumps(undocumented(MODELS[service]))) < len(json.dumps(MODELS[service])) / 2


def test_a_member_named_documentation_is_not_documentation():
    model = {"shapes": {"S": {"type": "structure", "documentation": "<p>x</p>", "members": {
        "documentation": {"shape": "T", "documentation": "<p>y</p>"}}}}}  # fmt: skip
    assert undocumented(model) == {
        "shapes": {"S": {"type": "structure", "members": {"documentation": {"shape": "T"}}}}
    }
