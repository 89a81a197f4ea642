"""The template's parameters as the local stack sets them: variables named after them, else Defaults;
Conditions and `!If` evaluated as CloudFormation does at deploy time."""

from __future__ import annotations

import pytest
from clerk_sync_local.stack.functions import LocalResources, function_specs
from clerk_sync_local.stack.state import DevError
from clerk_sync_local.stack.template import (
    TEMPLATE_PATH,
    StackParameters,
    TemplateError,
    load_template,
    parameter_variable,
)

TEMPLATE = load_template()
SMALL = {
    "Parameters": {
        "Stage": {"Type": "String", "Default": "dev"},
        "Days": {"Type": "Number", "Default": 30},
        "Flag": {"Type": "String", "Default": True},
        "Required": {"Type": "String"},
    },
    "Conditions": {
        "IsProd": {"Fn::Equals": [{"Ref": "Stage"}, "prod"]},
        "Kept": {"Fn::And": [{"Condition": "IsProd"}, {"Fn::Not": [{"Fn::Equals": [{"Ref": "Days"}, 0]}]}]},
        "Either": {"Fn::Or": [{"Condition": "IsProd"}, {"Fn::Equals": [{"Ref": "Flag"}, "true"]}]},
    },
    "Resources": {"Always": {"Type": "X"}, "ProdOnly": {"Type": "X", "Condition": "IsProd"}},
}


@pytest.mark.parametrize(
    ("name", "variable"),
    [
        ("ChangeFeed", "CHANGE_FEED"),
        ("ChangeArchiveRetentionDays", "CHANGE_ARCHIVE_RETENTION_DAYS"),
        ("SesMaxSendRate", "SES_MAX_SEND_RATE"),
        ("EnableSms", "ENABLE_SMS"),
        ("APIKey", "API_KEY"),
    ],
)
def test_a_parameter_is_set_by_its_name_in_upper_snake_case(name: str, variable: str):
    assert parameter_variable(name) == variable


def test_values_come_from_the_environment_else_the_default_as_text():
    assert StackParameters(SMALL, {}).value("Days") == "30"
    assert StackParameters(SMALL, {}).value("Flag") == "true"
    assert StackParameters(SMALL, {"STAGE": "prod"}).value("Stage") == "prod"
    with pytest.raises(TemplateError, match="Required has no Default: set REQUIRED"):
        StackParameters(SMALL, {}).value("Required")
    with pytest.raises(TemplateError, match="not a parameter"):
        StackParameters(SMALL, {}).value("Nothing")


def test_conditions_and_resources_follow_the_parameters():
    dev, prod = StackParameters(SMALL, {}), StackParameters(SMALL, {"STAGE": "prod"})
    assert (dev.condition("IsProd"), prod.condition("IsProd")) == (False, True)
    assert prod.condition("Kept") and not StackParameters(SMALL, {"STAGE": "prod", "DAYS": "0"}).condition(
        "Kept"
    )
    assert dev.condition("Either") and not StackParameters(SMALL, {"FLAG": "false"}).condition("Either")
    assert (dev.applies("Always"), dev.applies("ProdOnly"), prod.applies("ProdOnly")) == (True, False, True)


def test_if_chooses_a_branch_and_no_value_leaves_the_property_out():
    value = {
        "A": {"Fn::If": ["IsProd", {"x": 1}, {"Ref": "AWS::NoValue"}]},
        "B": [1, {"Fn::If": ["IsProd", 2, {"Ref": "AWS::NoValue"}]}],
        "C": {"Ref": "Stage"},
    }
    assert StackParameters(SMALL, {}).resolved(value) == {"B": [1], "C": {"Ref": "Stage"}}
    assert StackParameters(SMALL, {"STAGE": "prod"}).resolved(value) == {
        "A": {"x": 1},
        "B": [1, 2],
        "C": value["C"],
    }


def test_the_change_feed_parameters_of_the_project_template():
    on = StackParameters(TEMPLATE, {})
    assert on.condition("ChangeFeedEnabled") and on.condition("ChangeArchiveEnabled")
    assert on.applies("ChangesFunction") and on.applies("ChangesBus") and on.applies("ChangesFailedQueue")
    off = StackParameters(TEMPLATE, {"CHANGE_FEED": "false"})
    assert not (
        off.applies("ChangesFunction") or off.applies("ChangesBus") or off.condition("ChangeArchiveEnabled")
    )
    assert not StackParameters(TEMPLATE, {"CHANGE_ARCHIVE_RETENTION_DAYS": "0"}).applies("ChangesArchive")


def test_local_resources_resolve_a_parameter_by_its_own_variable_after_the_functions():
    spec = function_specs(TEMPLATE, TEMPLATE_PATH.parent)["ChangesFunction"]
    assert spec.condition == "ChangeFeedEnabled"
    retries = spec.events["Users"]["Properties"]["MaximumRetryAttempts"]
    assert LocalResources(TEMPLATE, {}, {}).resolve(retries) == "100"
    assert LocalResources(TEMPLATE, {"CHANGE_RETRY_ATTEMPTS": "3"}, {}).resolve(retries) == "3"
    detail = spec.variables["CHANGE_DETAIL"]
    assert LocalResources(TEMPLATE, {"CHANGE_DETAIL": "keys"}, {}).resolve(detail, "CHANGE_DETAIL") == "keys"
    assert (
        LocalResources(TEMPLATE, {}, {"ChangesBus": "bus"}).resolve(spec.variables["CHANGES_BUS_NAME"])
        == "bus"
    )
    with pytest.raises(DevError, match="not an attribute of a local resource"):
        LocalResources(TEMPLATE, {}, {}).attribute(spec.events["Users"]["Properties"]["Stream"], "Users")
    stream = LocalResources(TEMPLATE, {}, {}, {"UsersTable.StreamArn": "arn:stream"})
    assert stream.attribute(spec.events["Users"]["Properties"]["Stream"], "Users") == "arn:stream"


def test_the_local_stacks_run_changes_function_only_with_the_feed_on(monkeypatch: pytest.MonkeyPatch):
    """What `clerk-sync dev` and `make sam-local` run: the Function URL's function, and those with SQS or
    DynamoDB stream events that the template creates with the parameters set (CHANGE_FEED)."""
    from clerk_sync_local.stack.dev import created, runs_locally

    specs = function_specs(TEMPLATE, TEMPLATE_PATH.parent)
    monkeypatch.delenv("CHANGE_FEED", raising=False)
    run = {k for k, spec in specs.items() if runs_locally(spec) and created(TEMPLATE, spec)}
    assert run == {"WebhookFunction", "SideEffectsFunction", "ChangesFunction"}
    monkeypatch.setenv("CHANGE_FEED", "false")
    run = {k for k, spec in specs.items() if runs_locally(spec) and created(TEMPLATE, spec)}
    assert run == {"WebhookFunction", "SideEffectsFunction"}
    assert not runs_locally(specs["ReconcileFunction"])  # scheduled: `clerk-sync backfill` runs its code
