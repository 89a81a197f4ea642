"""The only module that writes PynamoDB's private attributes (PynamoDB 6.1 offers no public way to do
either); tests/unit/test_pynamodb_internals.py fails when an upgrade changes what they rely on.

- `Model._connection`: the class-level cache of a model's connection. A subclass inherits its parent's
  cached connection when their table names agree, so a bound model starts with none of its own.
- `Connection._client`: the botocore client a connection sends through, created on first use
  otherwise. There is no parameter to give PynamoDB an existing client.
"""

from __future__ import annotations

from typing import Any, TypeVar

from pynamodb.connection import Connection
from pynamodb.models import Model

M = TypeVar("M", bound=Model)


def bound_model(model: type[M], meta: type) -> type[M]:
    """A subclass of `model` with `meta` as its Meta and a connection of its own (made on first use
    from `meta`, never the one `model` may have cached for another endpoint)."""
    return type(model.__name__, (model,), {"Meta": meta, "_connection": None})


def share_client(target: Connection | type[Model], client: Any) -> None:
    """Make `target` (a connection, or a model's connection) send its requests through `client`, a
    botocore DynamoDB client: PynamoDB would otherwise create a botocore session and client per
    connection, loading the DynamoDB service model again each time (cold start and first request).

    PynamoDB still replaces the client if it ever has no credentials, as it does its own."""
    connection = target if isinstance(target, Connection) else target._get_connection().connection
    connection._client = client
