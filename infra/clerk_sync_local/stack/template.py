"""Read template.yaml (CloudFormation/SAM YAML) into plain dicts, short-form intrinsics included.

`!Ref X` becomes `{"Ref": "X"}`, `!GetAtt A.B` becomes `{"Fn::GetAtt": ["A", "B"]}`, `!Sub …` becomes
`{"Fn::Sub": …}` and so on: the long form CloudFormation itself uses, so callers handle one shape.

StackParameters gives the template's parameters their local values (an environment variable named
after the parameter, else its Default) and evaluates its Conditions and `!If` with them, as
CloudFormation does at deploy time.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
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


# --- parameters and conditions, locally ---------------------------------------------------------------

NO_VALUE = "AWS::NoValue"


class TemplateError(ValueError):
    """A parameter without a value, or a condition this module cannot evaluate."""


def parameter_variable(name: str) -> str:
    """The environment variable that sets a template parameter locally: its name in upper snake case
    (ChangeFeed -> CHANGE_FEED, SesMaxSendRate -> SES_MAX_SEND_RATE)."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", name).upper()


def _text(value: Any) -> str:
    """A parameter value as CloudFormation passes it: text ("true", not True)."""
    return str(value).lower() if isinstance(value, bool) else str(value)


@dataclass(frozen=True)
class StackParameters:
    """The template's parameters as the local stack sets them, and what follows from them: each
    parameter is its variable in `environ` (`parameter_variable`) when set, else its Default."""

    template: Template
    environ: Mapping[str, str]

    def value(self, name: str) -> str:
        """A parameter's local value (TemplateError when it is not a parameter, or has no value)."""
        parameter = (self.template.get("Parameters") or {}).get(name)
        if not isinstance(parameter, dict):
            raise TemplateError(f"{name} is not a parameter of the template")
        variable = parameter_variable(name)
        if variable in self.environ:
            return self.environ[variable]
        if "Default" not in parameter:
            raise TemplateError(f"template parameter {name} has no Default: set {variable}")
        return _text(parameter["Default"])

    def condition(self, name: str) -> bool:
        """Whether one of the template's Conditions holds."""
        conditions = self.template.get("Conditions") or {}
        if name not in conditions:
            raise TemplateError(f"{name} is not a condition of the template")
        return bool(self._evaluate(conditions[name]))

    def applies(self, logical_id: str) -> bool:
        """Whether a resource is created: it has no Condition, or its Condition holds."""
        condition = self.template["Resources"][logical_id].get("Condition")
        return condition is None or self.condition(str(condition))

    def resolved(self, value: Any) -> Any:
        """`value` with every `!If` replaced by the branch its condition chooses, and what is
        `!Ref AWS::NoValue` left out (a property, or an item of a list); other intrinsics as they are."""
        if isinstance(value, dict):
            branches = value.get("Fn::If")
            if len(value) == 1 and isinstance(branches, list) and len(branches) == 3:
                return self.resolved(branches[1] if self.condition(str(branches[0])) else branches[2])
            pairs = ((key, self.resolved(inner)) for key, inner in value.items())
            return {key: inner for key, inner in pairs if not _no_value(inner)}
        if isinstance(value, list):
            return [inner for inner in (self.resolved(item) for item in value) if not _no_value(inner)]
        return value

    def _evaluate(self, expression: Any) -> Any:
        if not isinstance(expression, dict) or len(expression) != 1:
            return _text(expression) if isinstance(expression, bool | int | float) else expression
        [(function, argument)] = expression.items()
        match function:
            case "Ref":
                return self.value(str(argument))
            case "Condition":
                return self.condition(str(argument))
            case "Fn::Equals":
                left, right = (self._evaluate(side) for side in argument)
                return _text(left) == _text(right)
            case "Fn::Not":
                return not self._evaluate(argument[0])
            case "Fn::And":
                return all(self._evaluate(inner) for inner in argument)
            case "Fn::Or":
                return any(self._evaluate(inner) for inner in argument)
        raise TemplateError(f"cannot evaluate {expression} locally")


def _no_value(value: Any) -> bool:
    return isinstance(value, dict) and value == {"Ref": NO_VALUE}
