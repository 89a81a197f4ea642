"""The CloudFormation YAML loader: short-form intrinsic tags become CloudFormation's long form."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
import yaml
from clerk_sync_local.stack.template import CloudFormationLoader, load_template, references, resources

EVERY_TAG = textwrap.dedent(
    """\
    Ref: !Ref Thing
    Condition: !Condition IsProd
    GetAtt: !GetAtt Thing.Arn
    GetAttNested: !GetAtt Database.Endpoint.Address
    GetAttList: !GetAtt [Thing, Arn]
    Sub: !Sub "${AWS::Region}-x"
    SubList: !Sub ["${A}-b", {A: !Ref Other}]
    If: !If [IsProd, 1, !Ref AWS::NoValue]
    Equals: !Equals [!Ref Stage, prod]
    Not: !Not [!Condition IsProd]
    And: !And [!Condition A, !Or [!Condition B, !Condition C]]
    Select: !Select [0, !GetAZs ""]
    Join: !Join [",", [a, !Ref Other]]
    Split: !Split [",", "a,b"]
    FindInMap: !FindInMap [Map, !Ref AWS::Region, Key]
    ImportValue: !ImportValue {"Fn::Sub": "${Stack}-Output"}
    Base64: !Base64 hello
    Cidr: !Cidr [10.0.0.0/16, 4, 8]
    """
)


def test_every_short_form_tag_becomes_its_long_form():
    assert yaml.load(EVERY_TAG, Loader=CloudFormationLoader) == {
        "Ref": {"Ref": "Thing"},
        "Condition": {"Condition": "IsProd"},
        "GetAtt": {"Fn::GetAtt": ["Thing", "Arn"]},
        "GetAttNested": {"Fn::GetAtt": ["Database", "Endpoint.Address"]},
        "GetAttList": {"Fn::GetAtt": ["Thing", "Arn"]},
        "Sub": {"Fn::Sub": "${AWS::Region}-x"},
        "SubList": {"Fn::Sub": ["${A}-b", {"A": {"Ref": "Other"}}]},
        "If": {"Fn::If": ["IsProd", 1, {"Ref": "AWS::NoValue"}]},
        "Equals": {"Fn::Equals": [{"Ref": "Stage"}, "prod"]},
        "Not": {"Fn::Not": [{"Condition": "IsProd"}]},
        "And": {"Fn::And": [{"Condition": "A"}, {"Fn::Or": [{"Condition": "B"}, {"Condition": "C"}]}]},
        "Select": {"Fn::Select": [0, {"Fn::GetAZs": ""}]},
        "Join": {"Fn::Join": [",", ["a", {"Ref": "Other"}]]},
        "Split": {"Fn::Split": [",", "a,b"]},
        "FindInMap": {"Fn::FindInMap": ["Map", {"Ref": "AWS::Region"}, "Key"]},
        "ImportValue": {"Fn::ImportValue": {"Fn::Sub": "${Stack}-Output"}},
        "Base64": {"Fn::Base64": "hello"},
        "Cidr": {"Fn::Cidr": ["10.0.0.0/16", 4, 8]},
    }


def test_plain_safe_loader_is_left_alone():
    with pytest.raises(yaml.constructor.ConstructorError):
        yaml.safe_load("Value: !Ref Thing")


def test_unknown_tags_are_rejected():
    with pytest.raises(yaml.constructor.ConstructorError):
        yaml.load("Value: !Python os.system", Loader=CloudFormationLoader)


def test_the_project_template_loads_with_its_references():
    template = load_template()

    queue = template["Resources"]["SideEffectsQueue"]["Properties"]
    assert queue["RedrivePolicy"] == {
        "deadLetterTargetArn": {"Fn::GetAtt": ["SideEffectsDeadLetterQueue", "Arn"]},
        "maxReceiveCount": 5,
    }
    assert template["Globals"]["Function"]["Environment"]["Variables"]["USERS_TABLE"] == {"Ref": "UsersTable"}
    assert list(references(queue)) == ["SideEffectsDeadLetterQueue"]


def test_resources_selects_one_type_and_returns_properties():
    template = load_template()

    assert list(resources(template, "AWS::SQS::Queue")) == [
        "SideEffectsQueue",
        "SideEffectsDeadLetterQueue",
        "ChangesFailedQueue",
    ]
    assert set(resources(template, "AWS::DynamoDB::Table")) == {
        "UsersTable", "OrganizationsTable", "MembershipsTable", "SessionsTable", "InvitationsTable",
        "RolesTable", "PermissionsTable", "DomainsTable", "WaitlistTable", "SubscriptionsTable",
        "SubscriptionItemsTable", "PaymentAttemptsTable", "PlansTable", "IdempotencyTable",
    }  # fmt: skip
    assert resources(template, "AWS::DynamoDB::Table")["IdempotencyTable"]["TimeToLiveSpecification"] == {
        "AttributeName": "expiration",
        "Enabled": True,
    }


def test_references_finds_ref_and_getatt_at_any_depth():
    value = {"a": [{"Ref": "One"}, {"b": {"Fn::GetAtt": ["Two", "Arn"]}}], "c": {"Fn::Sub": "${Three}"}}

    assert list(references(value)) == ["One", "Two"]


def test_a_file_without_resources_is_not_a_template(tmp_path: Path):
    path = tmp_path / "template.yaml"
    path.write_text("Description: nothing here\n", encoding="utf-8")

    with pytest.raises(ValueError, match="no Resources"):
        load_template(path)
