"""`ClerkData`: typed, tombstone-aware reads of the synced tables, and first-use sync (`ensure_*`).

Reads use one botocore DynamoDB client: GetItem and BatchGetItem by key, Query on a table's partition
or on the indexes the template defines, never a Scan. Lists are generators over Query pages: nothing
is read before the first item is asked for, and a page is read only when the previous one is used up.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from boto3.dynamodb.types import TypeDeserializer

from clerk_sync.adapters.aws_clients import CLIENT_CONFIG, Clients, Endpoints
from clerk_sync.domain.tables import Table
from clerk_sync.read.records import (
    Membership,
    Organization,
    OrganizationMembership,
    Session,
    User,
    is_tombstone,
)
from clerk_sync.settings import (
    CLERK_SECRET_KEY_ENV,
    DEFAULT_API_URL,
    DEFAULT_TABLES,
    ConfigError,
    Tables,
    load_read_config,
)

if TYPE_CHECKING:
    import boto3

    from clerk_sync.read.first_use import FirstUse

EMAIL_INDEX = "email-index"  # users by primary e-mail address
SLUG_INDEX = "slug-index"  # organizations by slug
USER_INDEX = "user-index"  # memberships (sorted by organization) and sessions, by user
BATCH_GET_LIMIT = 100  # keys per BatchGetItem request
ACTIVE = "active"
UNPROCESSED_BASE_WAIT, UNPROCESSED_MAX_WAIT = 0.05, 1.0  # s before asking again for unprocessed keys

_deserialize = TypeDeserializer().deserialize

Item = dict[str, Any]
R = TypeVar("R", User, Organization)


class ClerkUnavailableError(Exception):
    """`ensure_*` could not read from the Clerk Backend API (bad secret key, unreachable, kept failing)."""


class ClerkData:
    """The synced users, organizations, memberships and sessions, as an application reads them.

    Every call returns frozen records (`clerk_sync.read.records`), `None` or an empty iterator: never a
    tombstone (a deleted user or organization), never a membership or session of a deleted user (or a
    membership of a deleted organization) that its clean-up has not tombstoned yet, never raw items.
    Safe to share between threads.
    """

    def __init__(
        self,
        *,
        users_table: str,
        organizations_table: str,
        memberships_table: str,
        sessions_table: str,
        invitations_table: str = DEFAULT_TABLES["INVITATIONS_TABLE"],
        roles_table: str = DEFAULT_TABLES["ROLES_TABLE"],
        permissions_table: str = DEFAULT_TABLES["PERMISSIONS_TABLE"],
        domains_table: str = DEFAULT_TABLES["DOMAINS_TABLE"],
        waitlist_table: str = DEFAULT_TABLES["WAITLIST_TABLE"],
        subscriptions_table: str = DEFAULT_TABLES["SUBSCRIPTIONS_TABLE"],
        subscription_items_table: str = DEFAULT_TABLES["SUBSCRIPTION_ITEMS_TABLE"],
        payment_attempts_table: str = DEFAULT_TABLES["PAYMENT_ATTEMPTS_TABLE"],
        plans_table: str = DEFAULT_TABLES["PLANS_TABLE"],
        region: str | None = None,
        endpoint_url: str | None = None,
        session: boto3.session.Session | None = None,
        clerk_secret_key: str | None = None,
        clerk_api_url: str = DEFAULT_API_URL,
        page_size: int | None = None,
    ) -> None:
        """Tables by name; `region`/`endpoint_url` (None: botocore's resolution, AWS_ENDPOINT_URL…) or a
        boto3 `session` to make the DynamoDB client from. `clerk_secret_key`: only `ensure_*` use it.
        `page_size`: items per Query page of the lists (None: DynamoDB's, up to 1 MB)."""
        self.tables = Tables(
            users=users_table,
            organizations=organizations_table,
            memberships=memberships_table,
            sessions=sessions_table,
            invitations=invitations_table,
            roles=roles_table,
            permissions=permissions_table,
            domains=domains_table,
            waitlist=waitlist_table,
            subscriptions=subscriptions_table,
            subscription_items=subscription_items_table,
            payment_attempts=payment_attempts_table,
            plans=plans_table,
            idempotency=DEFAULT_TABLES["IDEMPOTENCY_TABLE"],  # the receiver's own: never read here
        )
        if session is None:
            self._client: Any = Clients(Endpoints(dynamodb=endpoint_url, region=region)).client("dynamodb")
        else:
            self._client = session.client(
                "dynamodb", region_name=region, endpoint_url=endpoint_url, config=CLIENT_CONFIG
            )
        self._endpoint_url = endpoint_url
        self._clerk_secret_key = clerk_secret_key
        self._clerk_api_url = clerk_api_url
        self._page_size = page_size
        self._first_use: FirstUse | None = None
        self._first_use_lock = threading.Lock()

    @classmethod
    def from_environment(
        cls, environ: Mapping[str, str] | None = None, session: boto3.session.Session | None = None
    ) -> ClerkData:
        """Table names from the variables the functions read (USERS_TABLE, …), the region from
        AWS_REGION / AWS_DEFAULT_REGION, CLERK_SECRET_KEY and CLERK_API_URL for `ensure_*`."""
        config = load_read_config(environ)
        return cls(
            users_table=config.tables.users,
            organizations_table=config.tables.organizations,
            memberships_table=config.tables.memberships,
            sessions_table=config.tables.sessions,
            region=config.region,
            session=session,
            clerk_secret_key=config.clerk_secret_key,
            clerk_api_url=config.clerk_api_url,
        )

    # --- users and organizations -------------------------------------------------------------------

    def user(self, user_id: str) -> User | None:
        """The user; None if not stored or deleted. A strongly consistent read (GetItem by key)."""
        _required(user_id, "user_id")
        item = self._get(self.tables.users, {"id": user_id})
        return None if item is None or is_tombstone(item) else User.from_item(item)

    def user_by_email(self, email: str) -> User | None:
        """The user whose primary e-mail address this is (exact match); None if none.

        Found through `email-index` (eventually consistent: an address set a moment ago may not be found
        yet), then read by key with a strong read: the answer is the latest stored version and still has
        this primary address. Should two stored users have it for a moment (an address moved between
        users), the most recently updated one is returned.
        """
        _required(email, "email")
        ids = self._index_ids(self.tables.users, EMAIL_INDEX, "email", email)
        return _latest(User.from_item(i) for i in self._live_items(self.tables.users, ids, "email", email))

    def organization(self, organization_id: str) -> Organization | None:
        """The organization; None if not stored or deleted. A strongly consistent read by key."""
        _required(organization_id, "organization_id")
        item = self._get(self.tables.organizations, {"id": organization_id})
        return None if item is None or is_tombstone(item) else Organization.from_item(item)

    def organization_by_slug(self, slug: str) -> Organization | None:
        """The organization with this slug; None if none.

        Found through `slug-index` (eventually consistent), then read by key with a strong read, as
        `user_by_email`; of two organizations holding the slug for a moment, the most recently updated.
        """
        _required(slug, "slug")
        ids = self._index_ids(self.tables.organizations, SLUG_INDEX, "slug", slug)
        found = self._live_items(self.tables.organizations, ids, "slug", slug)
        return _latest(Organization.from_item(i) for i in found)

    # --- lists ---------------------------------------------------------------------------------------

    def members(self, organization_id: str) -> Iterator[Membership]:
        """The organization's live memberships (role, permissions), by user id; empty if it is deleted.

        Strongly consistent: the organization's partition of the memberships table is queried with
        consistent reads, and the members' users are checked by key (BatchGetItem, consistent).
        """
        _required(organization_id, "organization_id")
        if self._tombstoned(self.tables.organizations, [organization_id]):
            return
        for page in self._pages(
            TableName=self.tables.memberships,
            KeyConditionExpression="organization_id = :key",
            ExpressionAttributeValues={":key": {"S": organization_id}},
            ConsistentRead=True,
        ):
            live = [item for item in page if not is_tombstone(item)]
            gone = self._tombstoned(self.tables.users, [item["user_id"] for item in live])
            yield from (Membership.from_item(item) for item in live if item["user_id"] not in gone)

    def organizations_of(self, user_id: str) -> Iterator[OrganizationMembership]:
        """The organizations the user is a live member of, with each membership, by organization id;
        empty if the user is deleted.

        Memberships are found through the memberships table's `user-index` (eventually consistent: a
        membership written a moment ago may be missing, one deleted a moment ago may still be listed);
        the user and the organizations are read by key with strong reads (deleted ones are left out).
        """
        _required(user_id, "user_id")
        if self._tombstoned(self.tables.users, [user_id]):
            return
        for page in self._pages(
            TableName=self.tables.memberships,
            IndexName=USER_INDEX,
            KeyConditionExpression="user_id = :key",
            ExpressionAttributeValues={":key": {"S": user_id}},
        ):
            live = [item for item in page if not is_tombstone(item)]
            organizations = self._batch_get(
                self.tables.organizations, [item["organization_id"] for item in live]
            )
            for item in live:
                organization = organizations.get(item["organization_id"])
                if organization is not None and is_tombstone(organization):
                    continue
                yield OrganizationMembership(
                    Membership.from_item(item),
                    None if organization is None else Organization.from_item(organization),
                )

    def sessions_of(self, user_id: str, active: bool = True) -> Iterator[Session]:
        """The user's sessions, only those whose latest status is `active` unless `active=False`; empty
        if the user is deleted. In no particular order.

        Found through the sessions table's `user-index` (eventually consistent: a session that ended a
        moment ago may still read as active); the user is checked by key with a strong read. A session's
        `expire_at` is not compared with the clock: Clerk ends sessions with its own events.
        """
        _required(user_id, "user_id")
        if self._tombstoned(self.tables.users, [user_id]):
            return
        for page in self._pages(
            TableName=self.tables.sessions,
            IndexName=USER_INDEX,
            KeyConditionExpression="user_id = :key",
            ExpressionAttributeValues={":key": {"S": user_id}},
        ):
            for item in page:
                if not is_tombstone(item) and (not active or item.get("status") == ACTIVE):
                    yield Session.from_item(item)

    # --- first use -----------------------------------------------------------------------------------

    def ensure_user(self, user_id: str) -> User | None:
        """The stored user; if none is stored, the user as Clerk has it now, stored first.

        A stored tombstone (a deleted user) is None and is never revived. On a miss the user is read from
        the Clerk Backend API (CLERK_SECRET_KEY; the `reconcile` extra's SDK, imported at the first miss),
        turned into the write its `user.updated` webhook would make and written through the receiver's
        version-guarded write: a newer webhook (or a deletion) that got there first wins, and of callers
        racing for the same user one writes and the others find it stale. The stored record is then read
        back strongly and returned. None when Clerk does not know the user (404).
        Raises `ClerkUnavailableError` when Clerk cannot answer, ConfigError without a secret key.
        """
        _required(user_id, "user_id")
        return self._ensure(Table.USERS, self.tables.users, user_id, User.from_item)

    def ensure_organization(self, organization_id: str) -> Organization | None:
        """The stored organization, or else the organization as Clerk has it, stored first: the same
        rules as `ensure_user` (a tombstone is None, never revived; unknown to Clerk: None)."""
        _required(organization_id, "organization_id")
        return self._ensure(
            Table.ORGANIZATIONS, self.tables.organizations, organization_id, Organization.from_item
        )

    def _ensure(self, table: Table, table_name: str, object_id: str, build: Callable[[Item], R]) -> R | None:
        item = self._get(table_name, {"id": object_id})
        if item is None and self._sync(table, object_id):
            item = self._get(table_name, {"id": object_id})
        return None if item is None or is_tombstone(item) else build(item)

    def _sync(self, table: Table, object_id: str) -> bool:
        """Fetch from Clerk and write; False when Clerk does not know the object."""
        with self._first_use_lock:
            if self._first_use is None:
                if not self._clerk_secret_key:
                    raise ConfigError(f"{CLERK_SECRET_KEY_ENV} is not set: ensure_* read from Clerk with it")
                from clerk_sync.read.first_use import FirstUse  # the Clerk SDK and PynamoDB: only now

                self._first_use = FirstUse(
                    self._client, self.tables, self._endpoint_url, self._clerk_secret_key, self._clerk_api_url
                )
        return self._first_use.sync(table, object_id)

    # --- DynamoDB ------------------------------------------------------------------------------------

    def _get(self, table_name: str, key: Mapping[str, str]) -> Item | None:
        answer = self._client.get_item(TableName=table_name, Key=_key(key), ConsistentRead=True)
        return _plain(answer["Item"]) if "Item" in answer else None

    def _stored(self, table_name: str, object_id: str) -> bool:
        """True when a record (a tombstone included) is stored under the id: a strong read."""
        return self._get(table_name, {"id": object_id}) is not None

    def _pages(self, **query: Any) -> Iterator[list[Item]]:
        """The items of each page of a Query, read when asked for."""
        paging = {"PageSize": self._page_size} if self._page_size else {}
        for page in self._client.get_paginator("query").paginate(**query, PaginationConfig=paging):
            yield [_plain(item) for item in page["Items"]]

    def _index_ids(self, table_name: str, index: str, attribute: str, value: str) -> list[str]:
        """The ids an index holds for a value (keys only)."""
        ids: list[str] = []
        for page in self._pages(
            TableName=table_name,
            IndexName=index,
            KeyConditionExpression="#attribute = :value",
            ExpressionAttributeNames={"#attribute": attribute, "#id": "id"},
            ExpressionAttributeValues={":value": {"S": value}},
            ProjectionExpression="#id",
        ):
            ids.extend(item["id"] for item in page)
        return ids

    def _live_items(self, table_name: str, ids: list[str], attribute: str, value: str) -> list[Item]:
        """The live records among `ids` that (read strongly) still hold `value` in `attribute`."""
        items = self._batch_get(table_name, ids).values()
        return [i for i in items if not is_tombstone(i) and i.get(attribute) == value]

    def _tombstoned(self, table_name: str, ids: Iterable[str]) -> set[str]:
        """Which of `ids` are tombstones in the table (strong reads of their keys and marks)."""
        marks = self._batch_get(table_name, ids, projection=("id", "deleted"))
        return {object_id for object_id, item in marks.items() if is_tombstone(item)}

    def _batch_get(
        self, table_name: str, ids: Iterable[str], projection: tuple[str, ...] = ()
    ) -> dict[str, Item]:
        """Records by id (those stored), read strongly, 100 keys a request, unprocessed keys asked again."""
        wanted = list(dict.fromkeys(ids))
        found: dict[str, Item] = {}
        for start in range(0, len(wanted), BATCH_GET_LIMIT):
            request: dict[str, Any] = {
                "Keys": [_key({"id": object_id}) for object_id in wanted[start : start + BATCH_GET_LIMIT]],
                "ConsistentRead": True,
            }
            if projection:
                names = {f"#p{n}": name for n, name in enumerate(projection)}
                request.update(ProjectionExpression=", ".join(names), ExpressionAttributeNames=names)
            pending: dict[str, Any] = {table_name: request}
            for attempt in itertools.count():
                answer = self._client.batch_get_item(RequestItems=pending)
                for item in answer["Responses"].get(table_name, []):
                    plain = _plain(item)
                    found[plain["id"]] = plain
                pending = answer.get("UnprocessedKeys") or {}
                if not pending:
                    break
                time.sleep(min(UNPROCESSED_MAX_WAIT, UNPROCESSED_BASE_WAIT * 2**attempt))  # throttled
        return found


def _required(value: object, name: str) -> None:
    """Refuse what no table can hold as a key before any request (the value is not echoed: it may be
    an e-mail address)."""
    if not isinstance(value, str) or not value:
        raise ValueError(f"{name} must be a non-empty string")


def _key(key: Mapping[str, str]) -> dict[str, dict[str, str]]:
    return {name: {"S": value} for name, value in key.items()}


def _plain(item: Mapping[str, Any]) -> Item:
    return {name: _deserialize(value) for name, value in item.items()}


def _latest(records: Iterable[R]) -> R | None:
    """The most recently updated record (ties: the greatest id), or None."""
    return max(records, key=lambda r: (r.version, r.id), default=None)
