"""The Logger and Metrics every module shares (Powertools: JSON logs, CloudWatch EMF metrics)."""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics, single_metric
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.metrics.functions import is_metrics_disabled

from clerk_sync.settings import telemetry_names

SERVICE, NAMESPACE = telemetry_names()

logger = Logger(service=SERVICE)
metrics = Metrics(namespace=NAMESPACE, service=SERVICE)


def count_delivery(event_type: str, outcome: str) -> None:
    """One `Deliveries` data point with `type` and `outcome` dimensions (for the dashboard)."""
    if is_metrics_disabled():  # single_metric itself ignores POWERTOOLS_METRICS_DISABLED
        return
    with single_metric(
        name="Deliveries",
        unit=MetricUnit.Count,
        value=1,
        namespace=NAMESPACE,
        default_dimensions={"service": SERVICE},
    ) as metric:
        metric.add_dimension(name="type", value=event_type)
        metric.add_dimension(name="outcome", value=outcome)


def count(name: str) -> None:
    """One data point of a service-level counter (alarms watch these), flushed with the invocation."""
    metrics.add_metric(name=name, unit=MetricUnit.Count, value=1)
