"""Reading Clerk's lists (listings.py) through the official SDK (`clerk-backend-api`).

What this module does about the SDK (7.0.0):
- Retries: without a `retry_config` the SDK retries 5xx and connection errors with backoff for up to an
  hour, and never retries 429. It is built here with retries switched off; `retry.call` does them
  (Retry-After honoured, bounded attempts, each wait reported), and every SDK error is mapped to
  `failures` types by status code (401/403 → BadCredentialsError, but a 403 saying the feature is off →
  FeatureNotEnabledError (features.py), 429 → RateLimitedError, …).
- Strict response validation: a response the SDK's pydantic models reject (a key Clerk dropped, a new
  enum value, a missing discriminator) raises `ResponseValidationError` although the HTTP call
  succeeded. The page is then read from the raw JSON the error carries, and each object is checked
  only for what the write path needs (synthesizing a write rejects the rest, which makes the walk incomplete).
- No cursor on `users.list`: pages are walked by offset with overlap (see `paging`).
Objects come back as the raw JSON Clerk sent (the SDK checks it; it is not round-tripped through
pydantic), i.e. the shape of webhook payloads, whichever path read them.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar

import httpx
from clerk_backend_api import Clerk, models
from clerk_backend_api.utils import BackoffStrategy, RetryConfig

from clerk_sync.adapters.clerk import features, paging, retry
from clerk_sync.adapters.clerk.errors import (
    ApiError,
    BadCredentialsError,
    FeatureNotEnabledError,
    NotFoundError,
    RateLimitedError,
    RetryableError,
)
from clerk_sync.adapters.clerk.listings import LISTINGS, Absence, Filtered, Key
from clerk_sync.adapters.clerk.paging import Page, Walk
from clerk_sync.adapters.clerk.stats import ApiStats
from clerk_sync.domain.tables import Table
from clerk_sync.settings import DEFAULT_API_URL

FILTER_CHUNK = 100  # user ids per membership query when confirming deletions
FILTERED_PAGE_SIZE = paging.MAX_PAGE_SIZE  # objects per page of a filtered list (Absence.FILTERED)
NO_SDK_RETRIES = RetryConfig("none", BackoffStrategy(0, 0, 1.0, 0), False)

T = TypeVar("T")


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """A Retry-After header (delta-seconds or HTTP date) in seconds; None when absent or unreadable."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def _errors(error: models.ClerkBaseError) -> list[dict[str, Any]]:
    """The `errors` of Clerk's error body (empty when the body is not one)."""
    try:
        errors = json.loads(error.body)["errors"]
    except (ValueError, KeyError, TypeError):
        return []
    return [e for e in errors if isinstance(e, dict)] if isinstance(errors, list) else []


def _reason(error: models.ClerkBaseError) -> str:
    """`401 authentication_invalid: Invalid authentication`-style text from Clerk's error body."""
    errors = _errors(error)
    if not errors:
        return f"HTTP {error.status_code}"
    first = errors[0]
    return f"{error.status_code} {first.get('code', '')}: {first.get('message', '')}".strip(": ")


def _feature_off(error: models.ClerkBaseError) -> bool:
    errors = _errors(error)
    texts = [str(e.get(name, "")) for e in errors for name in ("message", "long_message")]
    return features.not_enabled(error.status_code, (str(e.get("code", "")) for e in errors), texts)


def translate(error: Exception) -> Exception:
    """The `failures` exception for an SDK or transport exception (unknown ones are returned as they are)."""
    if isinstance(error, models.ClerkBaseError):
        status = error.status_code
        if _feature_off(error):
            return FeatureNotEnabledError(_reason(error))
        if status in (401, 403):
            return BadCredentialsError(
                f"Clerk rejected the secret key ({_reason(error)}): check CLERK_SECRET_KEY and the API URL"
            )
        if status == 429:
            return RateLimitedError(retry_after_seconds(error.headers.get("retry-after")))
        if status == 404:
            return NotFoundError(_reason(error))
        if status >= 500 or status == 408:
            return RetryableError(_reason(error))
        if 200 <= status < 300:  # e.g. an HTML page: not the Backend API
            kind = error.headers.get("content-type", "no content type")
            return ApiError(f"unexpected answer (HTTP {status}, {kind}): is the API URL Clerk's Backend API?")
        return ApiError(f"Clerk API error {_reason(error)}")
    if isinstance(error, httpx.UnsupportedProtocol | httpx.InvalidURL):
        return ApiError(f"bad Clerk API URL: {error}")
    if isinstance(error, httpx.TimeoutException):
        return RetryableError(f"timed out ({type(error).__name__})", unreachable=True)
    if isinstance(error, httpx.TransportError | models.NoResponseError):
        return RetryableError(f"{type(error).__name__}: {error}", unreachable=True)
    return error


class ClerkApi:
    """The lists backfill walks, the look-ups reconcile confirms with, retried per policy."""

    def __init__(
        self,
        secret_key: str,
        api_url: str = DEFAULT_API_URL,
        policy: retry.RetryPolicy | None = None,
        on_wait: Callable[[str, float], None] = lambda reason, seconds: None,
        timeout_ms: int = 30_000,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._last: httpx.Response | None = None
        self._http = httpx.Client(event_hooks={"response": [self._keep]})
        self._clerk = Clerk(
            bearer_auth=secret_key,
            server_url=api_url.rstrip("/"),
            retry_config=NO_SDK_RETRIES,
            timeout_ms=timeout_ms,
            client=self._http,
        )
        self._policy = policy or retry.RetryPolicy()
        self._on_wait = on_wait
        self._sleep = sleep
        self.stats = ApiStats()

    # --- lists ---------------------------------------------------------------------------------

    def total(self, table: Table) -> int | None:
        """How many objects the list holds, when Clerk says so cheaply (users: one count request)."""
        count = LISTINGS[table].count
        if count is None:
            return None
        try:
            return self._call(f"count {table.value}", lambda: count(self._clerk), lambda b: None)
        except (ApiError, NotFoundError):  # only for the progress bar: the list itself will tell
            return None

    def page(self, table: Table, offset: int, limit: int) -> Page:
        """One page of a list (oldest first where the list takes an order: listings.py)."""
        kind = LISTINGS[table]
        decode = _array if kind.array else _listing
        return self._call(
            f"list {table.value} at offset {offset}",
            lambda: self._body(kind.list_page(self._clerk, limit, offset), decode),
            decode,
        )

    # --- confirming deletions ------------------------------------------------------------------

    def absent(self, table: Table, keys: Mapping[Key, Mapping[str, str]]) -> set[Key]:
        """Which of `keys` (with their stored look-up fields) Clerk does not have, as the kind confirms
        it: asked one by one, memberships per organization, one filtered list per stored value, or none
        asked where only backfill writes. A record without the fields its look-up needs cannot be
        confirmed, so it is never absent."""
        kind = LISTINGS[table]
        if kind.absence is Absence.MEMBERS:
            return self._absent_memberships(list(keys))
        if kind.absence is Absence.LISTED:
            return set(keys)
        if kind.absence is Absence.NONE:
            raise ValueError(f"{table.value} cannot be confirmed absent")
        askable = {key: fields for key, fields in keys.items() if set(kind.lookup_fields) <= set(fields)}
        if kind.filtered is not None:
            return self._absent_filtered(table, kind.filtered, askable)
        return {key for key, fields in askable.items() if self._lookup(table, key, fields) is None}

    def get(self, table: Table, object_id: str) -> dict[str, Any] | None:
        """One object (a kind with a look-up by id alone) as Clerk sent it; None when Clerk does not
        have it (404)."""
        return self._lookup(table, (object_id,), {})

    def _lookup(self, table: Table, key: Key, fields: Mapping[str, str]) -> dict[str, Any] | None:
        lookup = LISTINGS[table].lookup
        if lookup is None:
            raise ValueError(f"{table.value} has no look-up")

        def get() -> dict[str, Any]:
            lookup(self._clerk, key, fields)
            return self._object(self._raw())

        try:
            return self._call(f"get {table.value} {'/'.join(key)}", get, self._object, absent_ok=True)
        except NotFoundError:
            return None

    def _absent_memberships(self, keys: list[Key]) -> set[Key]:
        by_org: dict[str, list[str]] = {}
        for org_id, user_id in keys:
            by_org.setdefault(org_id, []).append(user_id)
        gone: set[Key] = set()
        for org_id, user_ids in by_org.items():
            for start in range(0, len(user_ids), FILTER_CHUNK):
                chunk = user_ids[start : start + FILTER_CHUNK]
                present = self._members(org_id, chunk)
                gone.update((org_id, u) for u in chunk if present is None or u not in present)
        return gone

    def _members(self, org_id: str, user_ids: list[str]) -> set[str] | None:
        """Which of `user_ids` are members of the organization; None when the organization is gone."""
        try:
            page = self._call(
                f"list memberships of {org_id}",
                lambda: self._body(
                    self._clerk.organization_memberships.list(
                        organization_id=org_id, user_id=user_ids, limit=len(user_ids)
                    ),
                    _listing,
                ),
                _listing,
                absent_ok=True,
            )
        except NotFoundError:
            return None
        present: set[str] = set()
        for item in page.items:
            user_data = item.get("public_user_data")
            if isinstance(user_data, dict) and isinstance(user_data.get("user_id"), str):
                present.add(user_data["user_id"])
        return present

    def _absent_filtered(
        self, table: Table, filtered: Filtered, keys: Mapping[Key, Mapping[str, str]]
    ) -> set[Key]:
        by_value: dict[str, list[Key]] = {}
        for key, fields in keys.items():
            by_value.setdefault(fields[filtered.field], []).append(key)
        gone: set[Key] = set()
        for value, candidates in by_value.items():
            gone.update(self._unlisted(table, filtered, value, candidates))
        return gone

    def _unlisted(self, table: Table, filtered: Filtered, value: str, candidates: list[Key]) -> list[Key]:
        """The candidates that the complete list filtered by `value` lacks (all of them when its parent
        answers 404, none when the list shifted too much to be complete).

        `value` goes to Clerk only: request descriptions (in logs and errors) name a candidate's id,
        never the value (a waitlist entry's is an e-mail address)."""
        what = f"list {table.value} filtered for {candidates[0][0]}" + (
            f" and {len(candidates) - 1} more" if len(candidates) > 1 else ""
        )

        def fetch(offset: int, limit: int) -> Page:
            return self._call(
                f"{what} at offset {offset}",
                lambda: self._body(filtered.list_page(self._clerk, value, limit, offset), _listing),
                _listing,
                absent_ok=filtered.gone_on_404,
            )

        state: Walk[Key] = Walk()
        try:
            for _ in paging.walk(fetch, LISTINGS[table].key, state, limit=FILTERED_PAGE_SIZE):
                pass
        except NotFoundError:
            return candidates
        return [key for key in candidates if key not in state.seen] if state.complete else []

    # --- every request -------------------------------------------------------------------------

    def _keep(self, response: httpx.Response) -> None:
        """httpx response hook: keep the body of the latest answer (requests are made one at a time)."""
        response.read()
        self._last = response

    def _body(self, validated: object, decode: Callable[[Any], Page]) -> Page:
        """The page from the raw JSON of the answer the SDK just validated into `validated`.

        The SDK's models are only a check: objects go on as Clerk sent them (the shape webhook payloads
        have and `event_types.changes_of` reads), with no round trip through pydantic (≈0.3 ms per user
        saved).
        """
        return decode(self._raw())

    def _raw(self) -> Any:
        """The JSON of the answer just received."""
        if self._last is None:
            raise ApiError("no response body was kept")
        return _json(self._last.text, "a request")

    @staticmethod
    def _object(body: Any) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise ApiError("Clerk API answered with an object that is not a JSON object")
        return body

    def _call(
        self,
        what: str,
        request: Callable[[], T],
        lenient: Callable[[Any], T] | None = None,
        absent_ok: bool = False,
    ) -> T:
        """One logical request: errors mapped, SDK-rejected answers read leniently, retried per policy.

        A 404 raises NotFoundError when `absent_ok` (a look-up), else ApiError (a wrong API URL).
        """
        try:
            return self._attempts(what, request, lenient)
        except NotFoundError:
            if absent_ok:
                raise
            raise ApiError(f"Clerk API answered 404 to {what}: is the API URL right (…/v1)?") from None

    def _attempts(self, what: str, request: Callable[[], T], lenient: Callable[[Any], T] | None) -> T:
        """`request` with retries; a 2xx answer the SDK rejects goes to `lenient` as parsed JSON."""

        def once() -> T:
            self.stats.requests += 1
            try:
                return request()
            except models.ResponseValidationError as error:
                if lenient is None or not 200 <= error.status_code < 300:
                    raise translate(error) from error
                value = lenient(_json(error.body, what))
                self.stats.lenient_pages += 1
                note = f"the SDK rejected a response ({str(error).splitlines()[0][:200]}); read its raw JSON"
                if note not in self.stats.notes:
                    self.stats.notes.append(note)
                return value
            except Exception as error:
                translated = translate(error)
                if translated is error:
                    raise
                raise translated from error

        def waiting(reason: str, seconds: float) -> None:
            self.stats.waits += 1
            self.stats.waited_seconds += seconds
            self._on_wait(reason, seconds)

        return retry.call(once, what, self._policy, waiting, sleep=self._sleep)


def _json(body: str, what: str) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        raise ApiError(f"Clerk API answered {what} with a body that is not JSON") from None


def _objects(value: Any, what: str) -> list[dict[str, Any]]:
    if not isinstance(value, list):
        raise ApiError(f"Clerk API answered with {what} that is not a list")
    # Non-objects are kept as empty objects so that synthesizing counts them as malformed.
    return [item if isinstance(item, dict) else {} for item in value]


def _array(body: Any) -> Page:
    return Page(_objects(body, "a user list"))


def _listing(body: Any) -> Page:
    if not isinstance(body, dict):
        raise ApiError("Clerk API answered with a list response that is not an object")
    total = body.get("total_count")
    return Page(_objects(body.get("data"), "`data`"), total if isinstance(total, int) else None)
