"""Which of Clerk's refusals mean a feature is off (the kind is skipped) and which a wrong key."""

from __future__ import annotations

import pytest
from clerk_sync.adapters.clerk.features import not_enabled


@pytest.mark.parametrize(
    ("status", "code", "message", "off"),
    [
        (403, "organization_not_enabled_in_instance", "access denied", True),
        (403, "organizations_not_enabled_in_instance", "", True),
        (403, "organization_domains_not_enabled", "", True),
        (403, "feature_not_enabled", "", True),
        (403, "commerce_not_enabled_in_instance", "", True),  # the family
        (403, "resource_forbidden", "Billing is not enabled for this instance", True),  # the message
        (403, "authentication_invalid", "feature not enabled", False),  # an authentication code wins
        (403, "authorization_invalid", "", False),
        (403, "resource_forbidden", "access denied", False),
        (401, "organization_not_enabled_in_instance", "not enabled", False),  # a 401 is the key
        (404, "feature_not_enabled", "", False),
    ],
)
def test_not_enabled(status: int, code: str, message: str, off: bool) -> None:
    assert not_enabled(status, [code], [message]) is off
