"""`ClerkData`: typed, tombstone-aware reads of the synced tables, and first-use sync (`ensure_*`).

Reads use one botocore DynamoDB client: GetItem and BatchGetItem by key, Query on a table's partition
or on the indexes the template defines, never a Scan. Lists are generators over Query pages: nothing
is read before the first item is asked for, and a page is read only when the previous one is used up.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from clerk_sync.adapters.aws_clients import CLIENT_CONFIG, Clients, Endpoints
from clerk_sync.domain.key_limits import MAX_PARTITION_KEY_BYTES
from clerk_sync.domain.rules import is_tombstone
from clerk_sync.domain.tables import TABLES, Table
from clerk_sync.read.billing import (
    BillingPlan,
    Entitlements,
    SubscriptionItem,
    entitlements,
    plan_ids_without_features,
)
from clerk_sync.read.dynamodb import Item, Reads
from clerk_sync.read.errors import AwsConfigError
from clerk_sync.read.records import (
    Domain,
    Invitation,
    Membership,
    Organization,
    OrganizationMembership,
    Permission,
    Role,
    Session,
    User,
    WaitlistEntry,
)
from clerk_sync.settings import (
    CLERK_SECRET_KEY_ENV,
    DEFAULT_API_URL,
    REGION_ENV,
    ConfigError,
    Tables,
    load_read_config,
    read_tables,
)

if TYPE_CHECKING:
    import boto3

    from clerk_sync.read.first_use import FirstUse

ACTIVE = "active"
PENDING = "pending"
USER_PREFIX, ORGANIZATION_PREFIX = "user_", "org_"  # Clerk's id prefixes: a payer is one or the other
R = TypeVar("R", User, Organization, Role, Permission, WaitlistEntry)


class ClerkData:
    """The synced tables (domain/tables.py: users, organizations, memberships, sessions, invitations,
    roles, permissions, domains, the waitlist and billing), as an application reads them.

    Every call returns frozen records (`clerk_sync.read.records`), `None` or an empty iterator: never a
    tombstone (a deleted user or organization), never a membership or session of a deleted user (or a
    membership of a deleted organization) that its clean-up has not tombstoned yet, never raw items.
    Safe to share between threads.
    """

    def __init__(
        self,
        *,
        tables: Mapping[Table, str] | Mapping[str, str] | None = None,
        region: str | None = None,
        endpoint_url: str | None = None,
        session: boto3.session.Session | None = None,
        clerk_secret_key: str | None = None,
        clerk_api_url: str = DEFAULT_API_URL,
        page_size: int | None = None,
        store_complete_objects: bool = True,
    ) -> None:
        """`tables`: each synced table's name by logical name (`{"users": "prod-users", …}`, keys `Table`
        or their values), the local defaults (`clerk-sync-users`, …) for those not named.
        `region`/`endpoint_url` (None: botocore's resolution, AWS_ENDPOINT_URL…) or a
        boto3 `session` to make the DynamoDB client from. `clerk_secret_key`: only `ensure_*` use it.
        `page_size`: items per Query page of the lists (None: DynamoDB's, up to 1 MB).
        `store_complete_objects`: False: what `ensure_*` writes keeps no complete object (as the
        functions with StoreCompleteObjects false).

        Raises AwsConfigError when botocore finds no region or no credentials (for a running
        `clerk-sync dev`, `eval "$(clerk-sync env)"` sets both, with its endpoints and tables)."""
        self.tables = _tables(tables or {})
        self._name: Mapping[Table, str] = self.tables.names
        if session is None:
            clients = Clients(Endpoints(dynamodb=endpoint_url, region=region))
            _require_aws(clients.session, region)
            client: Any = clients.client("dynamodb")
        else:
            _require_aws(session, region)
            client = session.client(
                "dynamodb", region_name=region, endpoint_url=endpoint_url, config=CLIENT_CONFIG
            )
        self._reads = Reads(client, page_size)
        self._endpoint_url = endpoint_url
        self._clerk_secret_key = clerk_secret_key
        self._clerk_api_url = clerk_api_url
        self._store_complete_objects = store_complete_objects
        self._first_use: FirstUse | None = None
        self._first_use_lock = threading.Lock()

    @classmethod
    def from_environment(
        cls, environ: Mapping[str, str] | None = None, session: boto3.session.Session | None = None
    ) -> ClerkData:
        """Table names from the variables the functions read (each table's, domain/tables.py), the region from
        AWS_REGION / AWS_DEFAULT_REGION, CLERK_SECRET_KEY and CLERK_API_URL for `ensure_*`; the endpoint
        and credentials as botocore finds them (AWS_ENDPOINT_URL…). Raises AwsConfigError as the
        constructor does."""
        config = load_read_config(environ)
        return cls(
            tables=config.tables.names,
            region=config.region,
            session=session,
            clerk_secret_key=config.clerk_secret_key,
            clerk_api_url=config.clerk_api_url,
            store_complete_objects=config.store_complete_objects,
        )

    # --- users and organizations -------------------------------------------------------------------

    def user(self, user_id: str) -> User | None:
        """The user; None if not stored or deleted. A strongly consistent read (GetItem by key)."""
        _required(user_id, "user_id")
        item = self._reads.get(self._name[Table.USERS], {"id": user_id})
        return None if item is None or is_tombstone(item) else User.from_item(item)

    def user_by_email(self, email: str) -> User | None:
        """The user whose primary e-mail address this is (exact match); None if none.

        Found through the users' index on `email` (eventually consistent: an address set a moment ago
        may not be found yet), then read by key with a strong read: the answer is the latest stored
        version and still has this primary address. Should two stored users have it for a moment (an
        address moved between users), the most recently updated one is returned.
        """
        _required(email, "email")
        return _latest(User.from_item(i) for i in self._by_attribute(Table.USERS, "email", email))

    def organization(self, organization_id: str) -> Organization | None:
        """The organization; None if not stored or deleted. A strongly consistent read by key."""
        _required(organization_id, "organization_id")
        item = self._reads.get(self._name[Table.ORGANIZATIONS], {"id": organization_id})
        return None if item is None or is_tombstone(item) else Organization.from_item(item)

    def organization_by_slug(self, slug: str) -> Organization | None:
        """The organization with this slug; None if none.

        Found through the organizations' index on `slug` (eventually consistent), then read by key with
        a strong read, as `user_by_email`; of two organizations holding the slug for a moment, the most
        recently updated.
        """
        _required(slug, "slug")
        found = self._by_attribute(Table.ORGANIZATIONS, "slug", slug)
        return _latest(Organization.from_item(i) for i in found)

    # --- lists ---------------------------------------------------------------------------------------

    def members(self, organization_id: str) -> Iterator[Membership]:
        """The organization's live memberships (role, permissions), by user id; empty if it is deleted.

        Strongly consistent: the organization's partition of the memberships table is queried with
        consistent reads, and the members' users are checked by key (BatchGetItem, consistent).
        """
        _required(organization_id, "organization_id")
        if self._reads.tombstoned(self._name[Table.ORGANIZATIONS], [organization_id]):
            return
        for page in self._reads.pages(
            TableName=self._name[Table.MEMBERSHIPS],
            KeyConditionExpression="organization_id = :key",
            ExpressionAttributeValues={":key": {"S": organization_id}},
            ConsistentRead=True,
        ):
            live = [item for item in page if not is_tombstone(item)]
            gone = self._reads.tombstoned(self._name[Table.USERS], [item["user_id"] for item in live])
            yield from (Membership.from_item(item) for item in live if item["user_id"] not in gone)

    def organizations_of(self, user_id: str) -> Iterator[OrganizationMembership]:
        """The organizations the user is a live member of, with each membership, by organization id;
        empty if the user is deleted.

        Memberships are found through the memberships' index on `user_id` (eventually consistent: a
        membership written a moment ago may be missing, one deleted a moment ago may still be listed);
        the user and the organizations are read by key with strong reads (deleted ones are left out).
        """
        _required(user_id, "user_id")
        if self._reads.tombstoned(self._name[Table.USERS], [user_id]):
            return
        for page in self._reads.pages(
            TableName=self._name[Table.MEMBERSHIPS],
            IndexName=_index(Table.MEMBERSHIPS, "user_id"),
            KeyConditionExpression="user_id = :key",
            ExpressionAttributeValues={":key": {"S": user_id}},
        ):
            live = [item for item in page if not is_tombstone(item)]
            organizations = self._reads.batch_get(
                self._name[Table.ORGANIZATIONS], [item["organization_id"] for item in live]
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

        Found through the sessions' index on `user_id` (eventually consistent: a session that ended a
        moment ago may still read as active); the user is checked by key with a strong read. A session's
        `expire_at` is not compared with the clock: Clerk ends sessions with its own events.
        """
        _required(user_id, "user_id")
        if self._reads.tombstoned(self._name[Table.USERS], [user_id]):
            return
        for page in self._reads.pages(
            TableName=self._name[Table.SESSIONS],
            IndexName=_index(Table.SESSIONS, "user_id"),
            KeyConditionExpression="user_id = :key",
            ExpressionAttributeValues={":key": {"S": user_id}},
        ):
            for item in page:
                if not is_tombstone(item) and (not active or item.get("status") == ACTIVE):
                    yield Session.from_item(item)

    # --- invitations, roles, permissions, domains, waitlist ------------------------------------------

    def invitations_of(self, organization_id: str, status: str | None = PENDING) -> Iterator[Invitation]:
        """The organization's invitations whose latest status is `status` (None: any), in no particular
        order; empty if the organization is deleted.

        Found through the invitations' index on `organization_id` (eventually consistent: an invitation
        accepted a moment ago may still read as pending); the organization is checked by key, strongly.
        """
        _required(organization_id, "organization_id")
        if self._reads.tombstoned(self._name[Table.ORGANIZATIONS], [organization_id]):
            return
        for page in self._index_pages(Table.INVITATIONS, "organization_id", organization_id):
            yield from (Invitation.from_item(i) for i in page if _current(i, status))

    def invitations_for(self, email_address: str, status: str | None = PENDING) -> Iterator[Invitation]:
        """The invitations sent to this address (exact match) whose latest status is `status` (None:
        any), in no particular order, leaving out those of deleted organizations.

        Found through the invitations' index on `email_address` (eventually consistent); the organizations are
        checked by key, strongly.
        """
        _required(email_address, "email_address")
        for page in self._index_pages(Table.INVITATIONS, "email_address", email_address):
            found = [i for i in page if _current(i, status)]
            gone = self._reads.tombstoned(
                self._name[Table.ORGANIZATIONS], [i["organization_id"] for i in found]
            )
            yield from (Invitation.from_item(i) for i in found if i["organization_id"] not in gone)

    def role(self, role_id: str) -> Role | None:
        """The role; None if not stored or deleted. A strongly consistent read by key."""
        _required(role_id, "role_id")
        item = self._reads.get(self._name[Table.ROLES], {"id": role_id})
        return None if item is None or is_tombstone(item) else Role.from_item(item)

    def role_by_key(self, key: str) -> Role | None:
        """The live role with this key (`org:editor`), its permission keys in `permissions`; None if none.

        Found through the index on `key` (eventually consistent), then read by key with a strong read; of two
        roles holding the key for a moment (one deleted and made again), the most recently updated.
        """
        _required(key, "key")
        return _latest(Role.from_item(i) for i in self._by_attribute(Table.ROLES, "key", key))

    def permission(self, permission_id: str) -> Permission | None:
        """The permission; None if not stored or deleted. A strongly consistent read by key."""
        _required(permission_id, "permission_id")
        item = self._reads.get(self._name[Table.PERMISSIONS], {"id": permission_id})
        return None if item is None or is_tombstone(item) else Permission.from_item(item)

    def permission_by_key(self, key: str) -> Permission | None:
        """The live permission with this key (`org:docs:write`); None if none (as `role_by_key`)."""
        _required(key, "key")
        found = self._by_attribute(Table.PERMISSIONS, "key", key)
        return _latest(Permission.from_item(i) for i in found)

    def domains_of(self, organization_id: str) -> Iterator[Domain]:
        """The organization's live domains, in no particular order; empty if it is deleted.

        Found through the domains' index on `organization_id` (eventually consistent); the
        organization is checked by key, strongly.
        """
        _required(organization_id, "organization_id")
        if self._reads.tombstoned(self._name[Table.ORGANIZATIONS], [organization_id]):
            return
        for page in self._index_pages(Table.DOMAINS, "organization_id", organization_id):
            yield from (Domain.from_item(i) for i in page if not is_tombstone(i))

    def domains_named(self, name: str) -> list[Domain]:
        """The live domains with this name (`example.com`) of live organizations, by organization id: the
        organizations a user of that domain may join (`Domain.verified` and `enrollment_mode` say how).

        Found through the domains' index on `name` (eventually consistent), then read by key with strong
        reads, as are their organizations.
        """
        _required(name, "name")
        found = self._by_attribute(Table.DOMAINS, "name", name)
        gone = self._reads.tombstoned(self._name[Table.ORGANIZATIONS], [i["organization_id"] for i in found])
        domains = [Domain.from_item(i) for i in found if i["organization_id"] not in gone]
        return sorted(domains, key=lambda d: (d.organization_id or "", d.id))

    def waitlist_entry(self, email_address: str) -> WaitlistEntry | None:
        """The waitlist entry of this address (exact match); None if none. Through the waitlist's index
        on `email_address`, then read by key strongly; of two entries holding the address, the most
        recently updated."""
        _required(email_address, "email_address")
        found = self._by_attribute(Table.WAITLIST, "email_address", email_address)
        return _latest(WaitlistEntry.from_item(i) for i in found)

    # --- billing -------------------------------------------------------------------------------------

    def subscription_items_of(self, payer: str) -> Iterator[SubscriptionItem]:
        """Every stored subscription item (any status) of a payer: a user id (`user_…`) or an
        organization id (`org_…`); empty if the payer is deleted. In no particular order.

        Found through the items' index on `user_id` or `organization_id` (eventually consistent);
        the payer is checked by key, strongly.
        """
        table, attribute = _payer(payer)
        if self._reads.tombstoned(self._name[table], [payer]):
            return
        for page in self._index_pages(Table.SUBSCRIPTION_ITEMS, attribute, payer):
            yield from (SubscriptionItem.from_item(i) for i in page if not is_tombstone(i))

    def entitlements(self, payer: str, now_ms: int | None = None) -> Entitlements:
        """What the payer (a user id or an organization id) has at `now_ms` (default: now): the items
        that grant, their plans and the plans' features (`clerk_sync.read.billing` says which grant).

        One Query of the payer's items (as `subscription_items_of`), and one BatchGetItem of the plans
        table for the plans whose features the items' own copies lack.
        """
        items = list(self.subscription_items_of(payer))
        now = int(time.time() * 1000) if now_ms is None else now_ms
        wanted = plan_ids_without_features(i for i in items if i.grants(now))
        stored = self._reads.batch_get(self._name[Table.PLANS], wanted) if wanted else {}
        plans = {plan_id: BillingPlan.from_item(i) for plan_id, i in stored.items() if not is_tombstone(i)}
        return entitlements(payer, items, plans, now)

    def _index_pages(self, table: Table, attribute: str, value: str) -> Iterator[list[Item]]:
        """The pages of the items the table's index on `attribute` holds for a value (every attribute is
        projected)."""
        return self._reads.pages(
            TableName=self._name[table],
            IndexName=_index(table, attribute),
            KeyConditionExpression="#attribute = :value",
            ExpressionAttributeNames={"#attribute": attribute},
            ExpressionAttributeValues={":value": {"S": value}},
        )

    def _by_attribute(self, table: Table, attribute: str, value: str) -> list[Item]:
        """The live records whose `attribute` is `value`: found through the table's index on it,
        confirmed strongly."""
        ids = self._reads.index_ids(self._name[table], _index(table, attribute), attribute, value)
        return self._reads.live_items(self._name[table], ids, attribute, value)

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
        return self._ensure(Table.USERS, self._name[Table.USERS], user_id, User.from_item)

    def ensure_organization(self, organization_id: str) -> Organization | None:
        """The stored organization, or else the organization as Clerk has it, stored first: the same
        rules as `ensure_user` (a tombstone is None, never revived; unknown to Clerk: None)."""
        _required(organization_id, "organization_id")
        return self._ensure(
            Table.ORGANIZATIONS, self._name[Table.ORGANIZATIONS], organization_id, Organization.from_item
        )

    def _ensure(self, table: Table, table_name: str, object_id: str, build: Callable[[Item], R]) -> R | None:
        item = self._reads.get(table_name, {"id": object_id})
        if item is None and self._sync(table, object_id):
            item = self._reads.get(table_name, {"id": object_id})
        return None if item is None or is_tombstone(item) else build(item)

    def _sync(self, table: Table, object_id: str) -> bool:
        """Fetch from Clerk and write; False when Clerk does not know the object."""
        with self._first_use_lock:
            if self._first_use is None:
                if not self._clerk_secret_key:
                    raise ConfigError(f"{CLERK_SECRET_KEY_ENV} is not set: ensure_* read from Clerk with it")
                from clerk_sync.read.first_use import FirstUse  # the Clerk SDK and PynamoDB: only now

                self._first_use = FirstUse(
                    self._reads.client,
                    self.tables,
                    self._endpoint_url,
                    self._clerk_secret_key,
                    self._clerk_api_url,
                    self._store_complete_objects,
                )
        return self._first_use.sync(table, object_id)


def _require_aws(session: boto3.session.Session, region: str | None) -> None:
    """AwsConfigError unless botocore has a region and credentials (the session keeps the credentials it
    found: the client made from it next does not look again)."""
    local = 'for a running `clerk-sync dev`, `eval "$(clerk-sync env)"` sets'
    if not (region or session.region_name):
        raise AwsConfigError(f"ClerkData: no AWS region: set {REGION_ENV} ({local} it)")
    if session.get_credentials() is None:
        raise AwsConfigError(
            f"ClerkData: no AWS credentials in the environment, ~/.aws or an instance role ({local} them)"
        )


def _required(value: object, name: str) -> None:
    """Refuse what no table can hold as a key before any request (the value is not echoed: it may be
    an e-mail address)."""
    if not isinstance(value, str) or not value:
        raise ValueError(f"{name} must be a non-empty string")
    _within_key_limit(value, name)


def _within_key_limit(value: str, name: str) -> None:
    """Refuse a key longer than DynamoDB holds: every argument is a table's or an index's partition key
    (DynamoDB Local answers one over the limit with a ValidationException, moto with nothing). A lone
    surrogate counts its three bytes: both engines read such a key (and find nothing), as before."""
    if len(value.encode("utf-8", "surrogatepass")) > MAX_PARTITION_KEY_BYTES:
        raise ValueError(f"{name}: longer than a DynamoDB key holds ({MAX_PARTITION_KEY_BYTES} bytes)")


def _current(item: Item, status: str | None) -> bool:
    """True for a live record whose latest status is `status` (None: any)."""
    return not is_tombstone(item) and (status is None or item.get("status") == status)


def _payer(payer: object) -> tuple[Table, str]:
    """The payer's own table, and the attribute billing records name it by (each has an index on it)."""
    if isinstance(payer, str) and payer.startswith(USER_PREFIX) and len(payer) > len(USER_PREFIX):
        _within_key_limit(payer, "payer")
        return Table.USERS, "user_id"
    if (
        isinstance(payer, str)
        and payer.startswith(ORGANIZATION_PREFIX)
        and len(payer) > len(ORGANIZATION_PREFIX)
    ):
        _within_key_limit(payer, "payer")
        return Table.ORGANIZATIONS, "organization_id"
    raise ValueError("payer must be a user id (user_…) or an organization id (org_…)")


def _tables(given: Mapping[Table, str] | Mapping[str, str]) -> Tables:
    """The names of the synced tables: `given` by logical name (`Table` or its value), the local
    defaults for the others. ValueError for a name that is no synced table."""
    if any(name not in set(Table) for name in given):
        raise ValueError(f"tables: the keys are logical names, among {', '.join(Table)}")
    defaults = read_tables({})
    names = {table: given.get(table) or defaults.name_of(table) for table in Table}
    return Tables(names, defaults.idempotency)  # the idempotency table is the receiver's own: never read


def _index(table: Table, attribute: str) -> str:
    """The name of the table's index on `attribute` (declared in domain/tables.py)."""
    return TABLES[table].index_on(attribute).name


def _latest(records: Iterable[R]) -> R | None:
    """The most recently updated record (ties: the greatest id), or None."""
    return max(records, key=lambda r: (r.version, r.id), default=None)
