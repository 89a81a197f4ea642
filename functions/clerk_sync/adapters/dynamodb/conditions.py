"""The rule module's expressions (domain/rules.py) as PynamoDB conditions of one model."""

from __future__ import annotations

from functools import reduce

from pynamodb.expressions.condition import Condition

from clerk_sync.adapters.dynamodb.models import Versioned
from clerk_sync.domain.rules import Absent, AllOf, AnyOf, Below, Equals, Rule


def condition(model: type[Versioned], rule: Rule) -> Condition:
    """The DynamoDB condition that holds exactly when `rule` holds for the stored item."""
    match rule:
        case Absent(attribute):
            found: Condition = getattr(model, attribute).does_not_exist()
            return found
        case Below(attribute, value):
            below: Condition = getattr(model, attribute) < value
            return below
        case Equals(attribute, value):
            equal: Condition = getattr(model, attribute) == value
            return equal
        case AnyOf(parts):
            return reduce(lambda left, right: left | right, (condition(model, part) for part in parts))
        case AllOf(parts):
            return reduce(lambda left, right: left & right, (condition(model, part) for part in parts))
    raise TypeError(f"not a rule: {rule!r}")
