"""Read template.yaml (CloudFormation/SAM YAML) into plain dicts, short-form intrinsics included.

`!Ref X` becomes `{"Ref": "X"}`, `!GetAtt A.B` becomes `{"Fn::GetAtt": ["A", "B"]}`, `!Sub …` becomes
`{"Fn::Sub": …}` and so on: the long form CloudFormation itself uses, so callers handle one shape.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import yaml

TEMPLATE_ENV = "CLERK_SYNC_TEMPLATE"
"""Environment variable that points at another template (e.g. when the package is installed elsewhere)."""

TEMPLATE_PATH = Path(os.environ.get(TEMPLATE_ENV) or Path(__file__).resolve().parents[3] / "template.yaml")

Template = dict[str, Any]

_FUNCTIONS = (
    "And", "Base64", "Cidr", "Equals", "FindInMap", "GetAZs", "If", "ImportValue",
    "Join", "Not", "Or", "Select", "Split", "Sub",
)  # fmt: skip


class CloudFormationLoader(yaml.SafeLoader):
    """SafeLoader that also understands CloudFormation's short-form intrinsic function tags."""


def _construct_value(loader: yaml.SafeLoader, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        return loader.construct_scalar(node)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node, deep=True)
    if isinstance(node, yaml.MappingNode):
        return loader.construct_mapping(node, deep=True)
    raise yaml.constructor.ConstructorError(None, None, f"unexpected node for {node.tag}", node.start_mark)


def _long_form(key: str) -> Callable[[yaml.SafeLoader, yaml.Node], dict[str, Any]]:
    def construct(loader: yaml.SafeLoader, node: yaml.Node) -> dict[str, Any]:
        return {key: _construct_value(loader, node)}

    return construct


def _get_att(loader: yaml.SafeLoader, node: yaml.Node) -> dict[str, Any]:
    value = _construct_value(loader, node)
    if isinstance(value, str):
        # "Resource.Attribute.With.Dots": only the first dot separates the logical id.
        resource, _, attribute = value.partition(".")
        value = [resource, attribute]
    return {"Fn::GetAtt": value}


CloudFormationLoader.add_constructor("!Ref", _long_form("Ref"))
CloudFormationLoader.add_constructor("!Condition", _long_form("Condition"))
CloudFormationLoader.add_constructor("!GetAtt", _get_att)
for _name in _FUNCTIONS:
    CloudFormationLoader.add_constructor(f"!{_name}", _long_form(f"Fn::{_name}"))


def load_template(path: Path = TEMPLATE_PATH) -> Template:
    """Parse a CloudFormation/SAM template file."""
    with path.open(encoding="utf-8") as stream:
        template = yaml.load(stream, Loader=CloudFormationLoader)
    if not isinstance(template, dict) or not isinstance(template.get("Resources"), dict):
        raise ValueError(f"{path} is not a CloudFormation template: no Resources mapping")
    return template


def resources(template: Template, type_name: str) -> dict[str, dict[str, Any]]:
    """Properties of every resource of one type (e.g. "AWS::SQS::Queue"), keyed by logical id."""
    return {
        logical_id: resource.get("Properties") or {}
        for logical_id, resource in template["Resources"].items()
        if resource.get("Type") == type_name
    }


def references(value: Any) -> Iterator[str]:
    """Logical ids (or pseudo parameters) a value points at through Ref or Fn::GetAtt, at any depth.

    Names inside Fn::Sub strings ("${X.Arn}") are not parsed.
    """
    if isinstance(value, dict):
        for key, inner in value.items():
            if key == "Ref" and isinstance(inner, str):
                yield inner
            elif key == "Fn::GetAtt" and isinstance(inner, list) and inner:
                yield str(inner[0])
            else:
                yield from references(inner)
    elif isinstance(value, list):
        for inner in value:
            yield from references(inner)
