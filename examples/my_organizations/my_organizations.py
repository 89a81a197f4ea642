"""An HTTP API Lambda that answers "my organizations" for the signed-in user, on clerk_sync.read.

GET /me/organizations behind an HTTP API JWT authorizer that verifies Clerk session tokens: the
user id is the token's `sub` claim (never a value the caller chooses). Answers
`{"organizations": [{"id", "name", "slug", "role", "permissions"}, …]}`, ordered by organization id.
"""

from __future__ import annotations

import json
from typing import Any

from clerk_sync.read import ClerkData

# Made once per container, at init: table names from each table's variable (template.yaml).
data = ClerkData.from_environment()


def respond(status: int, body: dict[str, Any]) -> dict[str, Any]:
    """A payload-v2 HTTP API response."""
    return {"statusCode": status, "headers": {"content-type": "application/json"}, "body": json.dumps(body)}


def handler(event: dict[str, Any], context: object) -> dict[str, Any]:
    """The organizations the caller is a member of (deleted ones and left ones excluded)."""
    claims = event.get("requestContext", {}).get("authorizer", {}).get("jwt", {}).get("claims", {})
    user_id = claims.get("sub")
    if not isinstance(user_id, str) or not user_id.startswith("user_"):
        return respond(401, {"error": "no Clerk user in the token"})
    organizations = [
        {
            "id": entry.membership.organization_id,
            "name": entry.organization.name if entry.organization else None,
            "slug": entry.organization.slug if entry.organization else None,
            "role": entry.role,
            "permissions": list(entry.permissions),
        }
        for entry in data.organizations_of(user_id)
    ]
    return respond(200, {"organizations": organizations})
