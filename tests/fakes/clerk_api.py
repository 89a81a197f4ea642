"""A fake Clerk Backend API: real HTTP on 127.0.0.1, Clerk's documented shapes, paging and failures.

Serves what backfill reads (GET only), under `/v1`:
- `/users` (bare array; `limit` 1..500, `offset`, `order_by` ±created_at/±updated_at), `/users/count`,
  `/users/{id}`;
- `/organizations` and `/organization_memberships` (`{data, total_count}`), `/organizations/{id}`,
  `/organizations/{id}/memberships` (`user_id` filter, repeated), `/organizations/{id}/domains`;
- `/organization_invitations`, `/organization_roles`, `/organization_permissions`,
  `/organization_domains`, `/waitlist_entries` (`{data, total_count}`, `order_by` ±created_at; waitlist
  entries filtered by `query`: part of the e-mail address or id), the look-ups
  `/organizations/{id}/invitations/{id}`, `/organization_roles/{id}`, `/organization_permissions/{id}`;
- `/billing/plans` and `/billing/subscription_items` (no order parameter: newest first, as Clerk
  documents; items of `free_plans` only with `include_free=true`).
Objects carry every key `clerk-backend-api` 7.0.0 requires (it validates responses strictly).
`Authorization: Bearer <secret>` is checked; `fail(...)` injects 429s (with Retry-After) and 5xx;
`before_request` lets a test change the data between requests (drift); `requests` logs every call.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

SECRET_KEY = "sk_test_fake_backend_api_key"
BASE_MS = 1_700_000_000_000
MAX_LIMIT = 500


def clerk_user(user_id: str, created_at: int, updated_at: int, *, email: str | None = None) -> dict[str, Any]:
    """A complete User object as `GET /v1/users` returns it."""
    address = email if email is not None else f"{user_id}@example.com"
    email_id = f"idn_{user_id}"
    phone_id = f"idn_p_{user_id}"
    return {
        "id": user_id,
        "object": "user",
        "external_id": None,
        "primary_email_address_id": email_id,
        "primary_phone_number_id": phone_id,
        "primary_web3_wallet_id": None,
        "username": None,
        "first_name": "Ann",
        "last_name": "Lee",
        "profile_image_url": "https://www.gravatar.com/avatar?d=mp",
        "image_url": "https://img.clerk.com/eyJ0eXBlIjoiZGVmYXVsdCJ9",
        "has_image": False,
        "public_metadata": {"plan": "pro"},
        "private_metadata": {"crm_id": user_id},
        "unsafe_metadata": {},
        "email_addresses": [
            {
                "id": email_id,
                "object": "email_address",
                "email_address": address,
                "reserved": False,
                "verification": {
                    "object": "verification_otp",
                    "status": "verified",
                    "strategy": "email_code",
                    "attempts": 1,
                    "expire_at": created_at + 600_000,
                },
                "linked_to": [],
                "matches_sso_connection": False,
                "created_at": created_at,
                "updated_at": created_at,
            }
        ],
        "phone_numbers": [
            {
                "id": phone_id,
                "object": "phone_number",
                "phone_number": "+15555550100",
                "reserved_for_second_factor": False,
                "default_second_factor": False,
                "reserved": False,
                "verification": {
                    "object": "verification_otp",
                    "status": "verified",
                    "strategy": "phone_code",
                    "attempts": 1,
                    "expire_at": created_at + 600_000,
                },
                "linked_to": [],
                "backup_codes": None,
                "created_at": created_at,
                "updated_at": created_at,
            }
        ],
        "web3_wallets": [],
        "passkeys": [],
        "password_enabled": True,
        "two_factor_enabled": False,
        "totp_enabled": False,
        "backup_code_enabled": False,
        "mfa_enabled_at": None,
        "mfa_disabled_at": None,
        "external_accounts": [],
        "saml_accounts": [],
        "enterprise_accounts": [],
        "last_sign_in_at": updated_at,
        "banned": False,
        "locked": False,
        "lockout_expires_in_seconds": None,
        "verification_attempts_remaining": 100,
        "created_at": created_at,
        "updated_at": updated_at,
        "delete_self_enabled": True,
        "create_organization_enabled": True,
        "create_organizations_limit": None,
        "last_active_at": updated_at,
        "legal_accepted_at": None,
        "password_last_updated_at": created_at,
        "locale": None,
    }


def clerk_organization(org_id: str, created_at: int, updated_at: int, members: int = 0) -> dict[str, Any]:
    """A complete Organization object."""
    return {
        "object": "organization",
        "id": org_id,
        "name": f"Org {org_id}",
        "slug": org_id.replace("_", "-"),
        "image_url": "https://img.clerk.com/org",
        "has_image": False,
        "members_count": members,
        "pending_invitations_count": 0,
        "max_allowed_memberships": 0,
        "admin_delete_enabled": True,
        "public_metadata": {},
        "private_metadata": {},
        "created_by": "user_creator",
        "created_at": created_at,
        "updated_at": updated_at,
    }


def clerk_membership(
    organization: dict[str, Any], user_id: str, created_at: int, updated_at: int, role: str = "org:member"
) -> dict[str, Any]:
    """A complete OrganizationMembership object (with its organization and public user data)."""
    return {
        "id": f"orgmem_{organization['id']}_{user_id}",
        "object": "organization_membership",
        "role": role,
        "role_name": role.split(":")[-1].capitalize(),
        "permissions": ["org:sys_memberships:read", "org:sys_profile:read"],
        "public_metadata": {},
        "private_metadata": {},
        "organization": organization,
        "public_user_data": {
            "user_id": user_id,
            "first_name": "Ann",
            "last_name": "Lee",
            "profile_image_url": "https://www.gravatar.com/avatar?d=mp",
            "image_url": "https://img.clerk.com/eyJ0eXBlIjoiZGVmYXVsdCJ9",
            "has_image": False,
            "identifier": f"{user_id}@example.com",
            "username": None,
        },
        "created_at": created_at,
        "updated_at": updated_at,
    }


def clerk_invitation(
    invitation_id: str,
    organization: dict[str, Any],
    created_at: int,
    updated_at: int,
    status: str = "pending",
) -> dict[str, Any]:
    """An OrganizationInvitationWithPublicOrganizationData object, as `GET /organization_invitations`
    lists it (no `user_id`: the API's invitations do not name who accepted)."""
    return {
        "object": "organization_invitation",
        "id": invitation_id,
        "email_address": f"{invitation_id}@example.com",
        "role": "org:member",
        "role_name": "Member",
        "organization_id": organization["id"],
        "inviter_id": None,
        "public_inviter_data": None,
        "status": status,
        "public_metadata": {},
        "private_metadata": {},
        "url": None,
        "expires_at": created_at + 30 * 86_400_000,
        "created_at": created_at,
        "updated_at": updated_at,
        "public_organization_data": {
            "id": organization["id"],
            "name": organization["name"],
            "slug": organization["slug"],
            "has_image": False,
            "image_url": "https://img.clerk.com/org",
        },
    }


def clerk_permission(permission_id: str, created_at: int, updated_at: int) -> dict[str, Any]:
    """A Permission object."""
    return {
        "object": "permission",
        "id": permission_id,
        "name": f"Permission {permission_id}",
        "key": f"org:{permission_id}:read",
        "description": "Read access",
        "type": "user",
        "created_at": created_at,
        "updated_at": updated_at,
    }


def clerk_role(
    role_id: str, created_at: int, updated_at: int, permissions: tuple[dict[str, Any], ...] = ()
) -> dict[str, Any]:
    """A Role object: the API lists its permissions as Permission objects (webhooks may send keys)."""
    return {
        "object": "role",
        "id": role_id,
        "name": f"Role {role_id}",
        "key": f"org:{role_id}",
        "description": None,
        "is_creator_eligible": False,
        "permissions": list(permissions),
        "created_at": created_at,
        "updated_at": updated_at,
    }


def clerk_domain(domain_id: str, organization_id: str, created_at: int, updated_at: int) -> dict[str, Any]:
    """An OrganizationDomain object."""
    return {
        "object": "organization_domain",
        "id": domain_id,
        "organization_id": organization_id,
        "name": f"{domain_id}.example.com",
        "enrollment_mode": "automatic_invitation",
        "affiliation_email_address": "it@example.com",
        "affiliation_verification": None,
        "ownership_verification": None,
        "verification": {
            "status": "verified",
            "strategy": "email_code",
            "attempts": 1,
            "expire_at": None,
            "verified_at": created_at,
        },
        "total_pending_invitations": 0,
        "total_pending_suggestions": 0,
        "created_at": created_at,
        "updated_at": updated_at,
    }


def clerk_waitlist_entry(entry_id: str, created_at: int, updated_at: int) -> dict[str, Any]:
    """A WaitlistEntry object."""
    return {
        "object": "waitlist_entry",
        "id": entry_id,
        "email_address": f"{entry_id}@example.com",
        "status": "pending",
        "is_locked": False,
        "invitation": None,
        "created_at": created_at,
        "updated_at": updated_at,
    }


def clerk_feature(slug: str) -> dict[str, Any]:
    """A FeatureResponse object (a plan's feature)."""
    return {
        "object": "feature",
        "id": f"feat_{slug}",
        "name": slug.replace("_", " ").title(),
        "description": f"The {slug} feature",
        "slug": slug,
        "avatar_url": None,
    }


def clerk_plan(plan_id: str, features: tuple[str, ...] = (), payer_type: str = "user") -> dict[str, Any]:
    """A CommercePlan object, as `GET /billing/plans` lists it (features included)."""
    return {
        "object": "commerce_plan",
        "id": plan_id,
        "name": f"Plan {plan_id}",
        "fee": None,
        "annual_monthly_fee": None,
        "annual_fee": None,
        "description": None,
        "product_id": "prod_fake",
        "is_default": not features,
        "is_recurring": True,
        "publicly_visible": True,
        "has_base_fee": bool(features),
        "for_payer_type": payer_type,
        "slug": plan_id.replace("_", "-"),
        "avatar_url": None,
        "free_trial_enabled": False,
        "free_trial_days": None,
        "features": [clerk_feature(slug) for slug in features],
    }


def clerk_subscription_item(
    item_id: str, plan: dict[str, Any], user_id: str, created_at: int, updated_at: int, status: str = "active"
) -> dict[str, Any]:
    """A CommerceSubscriptionItem object: its plan with the plan's features, its payer (a user)."""
    return {
        "object": "commerce_subscription_item",
        "id": item_id,
        "instance_id": "ins_fake",
        "status": status,
        "plan_id": plan["id"],
        "plan": plan,
        "plan_period": "month",
        "payer_id": f"cpayer_{user_id}",
        "payer": {
            "object": "commerce_payer",
            "id": f"cpayer_{user_id}",
            "instance_id": "ins_fake",
            "user_id": user_id,
            "organization_id": None,
        },
        "is_free_trial": False,
        "period_start": created_at,
        "period_end": created_at + 30 * 86_400_000,
        "canceled_at": None,
        "past_due_at": None,
        "ended_at": None,
        "created_at": created_at,
        "updated_at": updated_at,
    }


def clerk_errors(message: str, code: str, status: int) -> dict[str, Any]:
    """Clerk's error body."""
    return {
        "errors": [{"message": message, "long_message": f"{message} ({status})", "code": code}],
        "clerk_trace_id": "trace_fake",
    }


@dataclass
class Fault:
    """After `skip` requests under `path` pass, the next `times` get `status` (429: with Retry-After)."""

    status: int
    times: int
    path: str = "/v1/"
    retry_after: str | None = None
    skip: int = 0


@dataclass(frozen=True)
class Logged:
    """One request as the fake answered it."""

    path: str
    query: dict[str, list[str]]
    status: int


@dataclass
class ClerkData:
    """The instance's data; objects kept as JSON-ready dicts, keyed by id."""

    users: dict[str, dict[str, Any]] = field(default_factory=dict)
    organizations: dict[str, dict[str, Any]] = field(default_factory=dict)
    memberships: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)  # (org id, user id)
    invitations: dict[str, dict[str, Any]] = field(default_factory=dict)
    roles: dict[str, dict[str, Any]] = field(default_factory=dict)
    permissions: dict[str, dict[str, Any]] = field(default_factory=dict)
    domains: dict[str, dict[str, Any]] = field(default_factory=dict)
    waitlist: dict[str, dict[str, Any]] = field(default_factory=dict)
    plans: dict[str, dict[str, Any]] = field(default_factory=dict)  # listed newest first, in insertion order
    subscription_items: dict[str, dict[str, Any]] = field(default_factory=dict)  # as plans
    free_plans: set[str] = field(default_factory=set)  # items of these are listed only with include_free

    def add_user(self, user_id: str, created_at: int, updated_at: int | None = None) -> dict[str, Any]:
        self.users[user_id] = clerk_user(user_id, created_at, updated_at or created_at)
        return self.users[user_id]

    def add_organization(self, org_id: str, created_at: int, updated_at: int | None = None) -> dict[str, Any]:
        self.organizations[org_id] = clerk_organization(org_id, created_at, updated_at or created_at)
        return self.organizations[org_id]

    def add_membership(
        self, org_id: str, user_id: str, created_at: int, updated_at: int | None = None
    ) -> None:
        organization = self.organizations[org_id]
        organization["members_count"] = organization.get("members_count", 0) + 1
        self.memberships[(org_id, user_id)] = clerk_membership(
            organization, user_id, created_at, updated_at or created_at
        )

    def remove_user(self, user_id: str) -> None:
        """Clerk deletes a user's memberships with it."""
        del self.users[user_id]
        for key in [k for k in self.memberships if k[1] == user_id]:
            del self.memberships[key]

    def remove_organization(self, org_id: str) -> None:
        del self.organizations[org_id]
        for key in [k for k in self.memberships if k[0] == org_id]:
            del self.memberships[key]


def populate(data: ClerkData, users: int, organizations: int, members_per_org: int) -> None:
    """`users` users, `organizations` organizations, each with `members_per_org` distinct members."""
    for i in range(users):
        data.add_user(f"user_{i:06d}", BASE_MS + i * 1000, BASE_MS + i * 1000 + 500)
    for j in range(organizations):
        data.add_organization(f"org_{j:04d}", BASE_MS + j * 7000, BASE_MS + j * 7000 + 100)
    for j in range(organizations):
        for k in range(members_per_org):
            user_index = (j * members_per_org + k) % max(users, 1)
            data.add_membership(f"org_{j:04d}", f"user_{user_index:06d}", BASE_MS + j * 7000 + k, None)


def populate_every_kind(data: ClerkData) -> dict[str, set[tuple[str, ...]]]:
    """Two users and organizations, a membership each, then a few objects of every other kind; returns
    the keys of those other kinds by table name."""
    populate(data, 2, 2, 1)
    at = BASE_MS + 100_000
    organizations = list(data.organizations.values())
    for i in range(4):
        data.invitations[f"orginv_{i}"] = clerk_invitation(
            f"orginv_{i}",
            organizations[i % 2],
            at + i,
            at + i + 1,
            ("pending", "accepted", "revoked", "expired")[i],
        )
        data.permissions[f"perm_{i}"] = clerk_permission(f"perm_{i}", at + i, at + i + 2)
        data.waitlist[f"wle_{i}"] = clerk_waitlist_entry(f"wle_{i}", at + i, at + i + 3)
    for i in range(3):
        data.roles[f"role_{i}"] = clerk_role(f"role_{i}", at + i, at + i + 4, (data.permissions["perm_0"],))
        data.domains[f"orgdm_{i}"] = clerk_domain(
            f"orgdm_{i}", organizations[i % 2]["id"], at + i, at + i + 5
        )
    plans = [
        clerk_plan("cplan_free"),
        clerk_plan("cplan_pro", ("seats", "sso")),
        clerk_plan("cplan_team", ("seats",)),
    ]
    data.plans = {plan["id"]: plan for plan in plans}
    data.free_plans = {"cplan_free"}
    for i in range(4):
        plan = plans[i % 3]
        data.subscription_items[f"csubi_{i}"] = clerk_subscription_item(
            f"csubi_{i}", plan, f"user_{i % 2:06d}", at + i, at + i + 6
        )
    return {
        name: {(i,) for i in getattr(data, name)}
        for name in (
            "invitations",
            "domains",
            "roles",
            "permissions",
            "waitlist",
            "plans",
            "subscription_items",
        )
    }


# A feature switched off -> the paths Clerk then refuses, and the refusal (organizations: Clerk's code;
# billing: its code is not documented, so the fake answers with a message only, as the fallback reads).
FEATURES_OFF = {
    "organizations": (
        ("/v1/organization",),
        ("access denied", "organization_not_enabled_in_instance", 403),
    ),
    "billing": (("/v1/billing/",), ("Billing is not enabled for this instance", "resource_forbidden", 403)),
}


class FakeClerkApi:
    """The server; use as a context manager. `url` is the value for `--api-url`."""

    def __init__(self, secret_key: str = SECRET_KEY, data: ClerkData | None = None) -> None:
        self.secret_key = secret_key
        self.data = data or ClerkData()
        self.faults: list[Fault] = []
        self.requests: list[Logged] = []
        self.before_request: Callable[[str, dict[str, list[str]]], None] | None = None
        self.off: set[str] = set()  # features switched off on the instance (FEATURES_OFF)
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-clerk", daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/v1"

    def __enter__(self) -> FakeClerkApi:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def fail(
        self, status: int, times: int = 1, path: str = "/v1/", retry_after: str | None = None, skip: int = 0
    ) -> None:
        """Answer `times` requests under `path` with `status`, after letting `skip` of them through."""
        with self._lock:
            self.faults.append(Fault(status, times, path, retry_after, skip))

    def heal(self) -> None:
        """Drop every injected fault."""
        with self._lock:
            self.faults.clear()

    def count(self, path_prefix: str = "/v1/", status: int | None = None) -> int:
        """How many requests under a path (with a given answer status) were served."""
        with self._lock:
            return sum(
                1
                for r in self.requests
                if r.path.startswith(path_prefix) and (status is None or r.status == status)
            )

    def reset_log(self) -> None:
        with self._lock:
            self.requests.clear()

    # --- answering -----------------------------------------------------------------------------

    def answer(
        self, path: str, query: dict[str, list[str]], authorization: str | None
    ) -> tuple[int, Any, dict[str, str]]:
        """Status, JSON body and extra headers for one GET."""
        if authorization != f"Bearer {self.secret_key}":
            return 401, clerk_errors("Invalid authentication", "authentication_invalid", 401), {}
        with self._lock:
            for fault in self.faults:
                if fault.times > 0 and path.startswith(fault.path):
                    if fault.skip > 0:
                        fault.skip -= 1
                        continue
                    fault.times -= 1
                    headers = {"Retry-After": fault.retry_after} if fault.retry_after is not None else {}
                    code = "too_many_requests" if fault.status == 429 else "internal_clerk_error"
                    return fault.status, clerk_errors("Request failed", code, fault.status), headers
        for feature in self.off:
            prefixes, (message, code, status) = FEATURES_OFF[feature]
            if path.startswith(prefixes):
                return status, clerk_errors(message, code, status), {}
        if self.before_request is not None:
            self.before_request(path, query)
        with self._lock:
            return self._route(path, query)

    def _route(self, path: str, query: dict[str, list[str]]) -> tuple[int, Any, dict[str, str]]:
        parts = [p for p in path.split("/") if p][1:]  # drop "v1"
        try:
            limit, offset = _paging(query)
        except ValueError as error:
            return 422, clerk_errors(str(error), "form_param_value_invalid", 422), {}
        match parts:
            case ["users"]:
                users = _ordered(self.data.users.values(), query, "-created_at")
                return 200, users[offset : offset + limit], {}
            case ["users", "count"]:
                return 200, {"object": "total_count", "total_count": len(self.data.users)}, {}
            case ["users", user_id] if user_id in self.data.users:
                return 200, self.data.users[user_id], {}
            case ["organizations"]:
                organizations = _ordered(self.data.organizations.values(), query, "-created_at")
                return 200, _listing(organizations, limit, offset), {}
            case ["organizations", org_id] if org_id in self.data.organizations:
                return 200, self.data.organizations[org_id], {}
            case ["organizations", org_id, "memberships"] if org_id in self.data.organizations:
                wanted = set(query.get("user_id", []))
                members = [
                    m
                    for (o, u), m in self.data.memberships.items()
                    if o == org_id and (not wanted or u in wanted)
                ]
                return 200, _listing(_ordered(members, query, "-created_at"), limit, offset), {}
            case ["organizations", org_id, "domains"] if org_id in self.data.organizations:
                domains = [d for d in self.data.domains.values() if d["organization_id"] == org_id]
                return 200, _listing(_ordered(domains, query, "-created_at"), limit, offset), {}
            case ["waitlist_entries"] if "query" in query:
                text = query["query"][0].lower()
                entries = [
                    e
                    for e in self.data.waitlist.values()
                    if text in e["email_address"].lower() or text in e["id"]
                ]
                return 200, _listing(_ordered(entries, query, "-created_at"), limit, offset), {}
            case ["organization_memberships"]:
                members = _ordered(self.data.memberships.values(), query, "-created_at")
                return 200, _listing(members, limit, offset), {}
            case ["organizations", org_id, "invitations", invitation_id] if (
                self.data.invitations.get(invitation_id, {}).get("organization_id") == org_id
            ):
                return 200, self.data.invitations[invitation_id], {}
            case ["organization_roles", role_id] if role_id in self.data.roles:
                return 200, self.data.roles[role_id], {}
            case ["organization_permissions", permission_id] if permission_id in self.data.permissions:
                return 200, self.data.permissions[permission_id], {}
            case [listed] if listed in ORDERED_LISTS:
                items = getattr(self.data, ORDERED_LISTS[listed]).values()
                return 200, _listing(_ordered(items, query, "-created_at"), limit, offset), {}
            case ["billing", "plans"]:
                return 200, _listing(_newest_first(self.data.plans), limit, offset), {}
            case ["billing", "subscription_items"]:
                free = query.get("include_free", ["false"])[0] == "true"
                listed = _newest_first(self.data.subscription_items)
                items = [i for i in listed if free or i["plan_id"] not in self.data.free_plans]
                return 200, _listing(items, limit, offset), {}
        return 404, clerk_errors("Resource not found", "resource_not_found", 404), {}

    def log(self, path: str, query: dict[str, list[str]], status: int) -> None:
        with self._lock:
            self.requests.append(Logged(path, query, status))


# The instance-wide lists that take `order_by` (±created_at), by path -> the ClerkData field they list.
ORDERED_LISTS = {
    "organization_invitations": "invitations",
    "organization_roles": "roles",
    "organization_permissions": "permissions",
    "organization_domains": "domains",
    "waitlist_entries": "waitlist",
}


def _newest_first(objects: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """Billing lists take no order: newest first (the order added, reversed)."""
    return list(objects.values())[::-1]


def _paging(query: dict[str, list[str]]) -> tuple[int, int]:
    limit = int(query.get("limit", ["10"])[0])
    offset = int(query.get("offset", ["0"])[0])
    if not 1 <= limit <= MAX_LIMIT:
        raise ValueError(f"limit must be between 1 and {MAX_LIMIT}")
    if offset < 0:
        raise ValueError("offset must be >= 0")
    return limit, offset


def _ordered(items: Any, query: dict[str, list[str]], default: str) -> list[dict[str, Any]]:
    order = query.get("order_by", [default])[0]
    descending = order.startswith("-")
    name = order.lstrip("+-") or "created_at"
    if name not in ("created_at", "updated_at"):
        name = "created_at"
    return sorted(items, key=lambda o: (o[name], o["id"]), reverse=descending)


def _listing(items: list[dict[str, Any]], limit: int, offset: int) -> dict[str, Any]:
    return {"data": items[offset : offset + limit], "total_count": len(items)}


def _handler_for(api: FakeClerkApi) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            url = urlsplit(self.path)
            query = parse_qs(url.query)
            status, body, headers = api.answer(url.path, query, self.headers.get("Authorization"))
            api.log(url.path, query, status)
            payload = json.dumps(body).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(payload)
            except (BrokenPipeError, ConnectionResetError):  # the client has gone (e.g. killed)
                self.close_connection = True

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


@contextmanager
def running(data: ClerkData | None = None, secret_key: str = SECRET_KEY) -> Iterator[FakeClerkApi]:
    """A started fake, stopped on exit."""
    with FakeClerkApi(secret_key, data) as api:
        yield api
