"""First-use sync: a user or organization read from the Clerk Backend API and written like its webhook.

Imported by `ClerkData` at the first `ensure_*` miss only: it brings in the Clerk SDK (the `reconcile`
extra), httpx and PynamoDB, which plain reads never need.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from typing import Any

from clerk_sync.adapters.clerk.api import ClerkApi
from clerk_sync.adapters.clerk.errors import ClerkApiError
from clerk_sync.adapters.clerk.listings import LISTINGS
from clerk_sync.adapters.clerk.retry import RetryPolicy
from clerk_sync.adapters.dynamodb.models import bind_models
from clerk_sync.adapters.dynamodb.store import Store
from clerk_sync.domain.tables import Table
from clerk_sync.read.errors import ClerkUnavailableError
from clerk_sync.settings import Tables

# A caller is waiting (often a web request): a few quick attempts, not a batch job's patience.
POLICY = RetryPolicy(
    max_attempts=3, rate_limit_attempts=3, base_delay=0.2, max_delay=1.0, max_retry_after=2.0
)
TIMEOUT_MS = 5_000
SVIX_ID_PREFIX = "first-use:"

log = logging.getLogger("clerk_sync.read")


class FirstUse:
    """Fetches from Clerk and writes through the receiver's version-guarded write."""

    def __init__(
        self,
        client: Any,
        tables: Tables,
        endpoint_url: str | None,
        secret_key: str,
        api_url: str,
        complete_objects: bool = True,
    ) -> None:
        """`client`: the reader's botocore DynamoDB client, shared by the write; `complete_objects`:
        False writes records without Clerk's complete object (STORE_COMPLETE_OBJECTS)."""
        region = client.meta.region_name
        models = bind_models(tables, region=region, host=endpoint_url, client=client)
        self._store = Store(models, client, complete_objects)
        self._secret_key = secret_key
        self._api_url = api_url
        self._apis = threading.local()  # ClerkApi reads each answer's body from a hook: one per thread

    def _api(self) -> ClerkApi:
        api: ClerkApi | None = getattr(self._apis, "api", None)
        if api is None:
            api = ClerkApi(self._secret_key, self._api_url, POLICY, timeout_ms=TIMEOUT_MS)
            self._apis.api = api
        return api

    def sync(self, table: Table, object_id: str) -> bool:
        """Write the object as Clerk has it now; False when Clerk does not have it.

        Each call writes under its own `svix_id`, so that a racing caller's write of the same version is
        refused (`stale`) instead of counting as a retry of this one.
        """
        try:
            found = self._api().get(table, object_id)
        except ClerkApiError as error:
            raise ClerkUnavailableError(str(error)) from None
        if found is None:
            log.info("first use: not in Clerk", extra={"table": table.value, "outcome": "unknown"})
            return False
        write = LISTINGS[table].write(found, f"{SVIX_ID_PREFIX}{uuid.uuid4()}", int(time.time() * 1000))
        outcome = self._store.apply(write)
        log.info("first use: fetched from Clerk", extra={"table": table.value, "outcome": outcome})
        return True
