"""Configuration: signing secrets, table names and the side-effects queue, read from the environment."""

from __future__ import annotations

import base64
import dataclasses

import pytest
from clerk_sync.domain.tables import Table
from clerk_sync.settings import (
    DEFAULT_TABLES,
    SECRET_ENV,
    TABLE_VARIABLES,
    ConfigError,
    SmsConfig,
    load_config,
    load_read_config,
    load_reconcile_config,
    load_worker_config,
    parse_signing_secrets,
    read_sms_config,
)
from hypothesis import given, settings
from hypothesis import strategies as st
from standardwebhooks.webhooks import Webhook as StandardWebhook

QUEUE_URL = "https://sqs.eu-west-1.amazonaws.com/123456789012/clerk-sync-side-effects"
VECTOR_SECRET = "whsec_plJ3nmyCDGBKInavdOK15jsl"
VECTOR_KEY = base64.b64decode("plJ3nmyCDGBKInavdOK15jsl")
OTHER_KEY = b"the rotated secret"
OTHER_SECRET = "whsec_" + base64.b64encode(OTHER_KEY).decode()
THIRD_KEY = b"\x00\xff third"
THIRD_SECRET = "whsec_" + base64.b64encode(THIRD_KEY).decode()

# Distinctive, so that we can tell whether an error message echoes it.
SECRET_MATERIAL = "Zm9vYmFyU2VjcmV0TWF0ZXJpYWw"


def env(**overrides: str) -> dict[str, str]:
    base = {SECRET_ENV: VECTOR_SECRET, "SIDE_EFFECTS_QUEUE_URL": QUEUE_URL}
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def config_error(raw: str) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        parse_signing_secrets(raw)
    return info.value


def assert_no_secret_material(error: ConfigError, *material: str) -> None:
    """Neither the message nor a chained exception (shown in tracebacks) may carry the secret."""
    text = str(error) + repr(error.args)
    for m in material:
        assert m not in text
    assert error.__cause__ is None
    assert error.__context__ is None or error.__suppress_context__


# --------------------------------------------------------------------------------------------------
# Signing secrets


def test_one_secret():
    assert parse_signing_secrets(VECTOR_SECRET) == (VECTOR_KEY,)


@pytest.mark.parametrize(
    "raw",
    [
        f"{VECTOR_SECRET} {OTHER_SECRET} {THIRD_SECRET}",
        f"{VECTOR_SECRET},{OTHER_SECRET},{THIRD_SECRET}",
        f"{VECTOR_SECRET}, {OTHER_SECRET} ,{THIRD_SECRET}",
        f"  {VECTOR_SECRET}\n{OTHER_SECRET}\t,, {THIRD_SECRET} ,",
        f",{VECTOR_SECRET}   {OTHER_SECRET},\n{THIRD_SECRET}\n",
    ],
)
def test_several_secrets_keep_their_order(raw):
    assert parse_signing_secrets(raw) == (VECTOR_KEY, OTHER_KEY, THIRD_KEY)


def test_surrounding_whitespace_and_separators_are_ignored():
    assert parse_signing_secrets(f"\n  {VECTOR_SECRET} , \n") == (VECTOR_KEY,)


@pytest.mark.parametrize("raw", ["whsec_YQ==", "whsec_YQ=", "whsec_YQ"])
def test_padding_is_optional(raw):
    assert parse_signing_secrets(raw) == (b"a",)


@pytest.mark.parametrize("raw", ["", "   ", " , ,\n", ","])
def test_empty_secret_variable(raw):
    error = config_error(raw)
    assert SECRET_ENV in str(error) and "empty" in str(error)


@pytest.mark.parametrize(
    ("raw", "index"),
    [
        (SECRET_MATERIAL, 1),
        ("WHSEC_" + SECRET_MATERIAL, 1),
        ("whsec" + SECRET_MATERIAL, 1),
        (f"{VECTOR_SECRET} {SECRET_MATERIAL}", 2),
        (f"{VECTOR_SECRET},{OTHER_SECRET},sk_{SECRET_MATERIAL}", 3),
    ],
)
def test_secret_without_prefix(raw, index):
    error = config_error(raw)
    message = str(error)
    assert SECRET_ENV in message and "whsec_" in message and f"#{index}" in message
    assert_no_secret_material(error, SECRET_MATERIAL)


@pytest.mark.parametrize(
    "encoded",
    [
        SECRET_MATERIAL + "!",  # not in the alphabet
        SECRET_MATERIAL + "-_",  # URL-safe alphabet
        SECRET_MATERIAL[:5],  # 5 characters: one more than a multiple of 4
        "YQ==" + SECRET_MATERIAL[:4],  # data after padding
        SECRET_MATERIAL[:2] + "=" + SECRET_MATERIAL[2:5],  # padding in the middle
        SECRET_MATERIAL[:4] + "é",
    ],
)
def test_secret_with_bad_base64(encoded):
    error = config_error(f"{VECTOR_SECRET} whsec_{encoded}")
    message = str(error)
    assert SECRET_ENV in message and "base64" in message and "#2" in message
    assert_no_secret_material(error, encoded, SECRET_MATERIAL[:4])


@pytest.mark.parametrize("raw", ["whsec_", "whsec_==", f"{VECTOR_SECRET} whsec_"])
def test_secret_with_nothing_after_prefix(raw):
    error = config_error(raw)
    assert SECRET_ENV in str(error)


@settings(max_examples=200, deadline=None)
@given(
    keys=st.lists(st.binary(min_size=1, max_size=48), min_size=1, max_size=4),
    data=st.data(),
)
def test_keys_are_what_svix_derives_from_each_secret(keys, data):
    secrets = []
    for key in keys:
        encoded = base64.b64encode(key).decode()
        if data.draw(st.booleans(), label="unpadded"):
            encoded = encoded.rstrip("=")
        secrets.append("whsec_" + encoded)
    separators = data.draw(
        st.lists(
            st.sampled_from([" ", ",", ", ", " ,", "\n", "\t", "  ,,"]),
            min_size=len(keys) + 1,
            max_size=len(keys) + 1,
        ),
        label="separators",
    )
    raw = separators[0] + "".join(s + sep for s, sep in zip(secrets, separators[1:], strict=True))
    parsed = parse_signing_secrets(raw)
    assert parsed == tuple(keys)
    assert parsed == tuple(StandardWebhook(s)._whsecret for s in secrets)


# --------------------------------------------------------------------------------------------------
# load_config


def test_minimal_environment_uses_default_tables():
    config = load_config(env())
    assert config.signing_keys == (VECTOR_KEY,)
    assert config.side_effects_queue_url == QUEUE_URL
    assert {name: config.tables.named(name) for name in TABLE_VARIABLES} == {
        name: f"clerk-sync-{name}" for name in TABLE_VARIABLES
    }
    assert set(DEFAULT_TABLES) == {
        "USERS_TABLE",
        "ORGANIZATIONS_TABLE",
        "MEMBERSHIPS_TABLE",
        "SESSIONS_TABLE",
        "INVITATIONS_TABLE",
        "ROLES_TABLE",
        "PERMISSIONS_TABLE",
        "DOMAINS_TABLE",
        "WAITLIST_TABLE",
        "SUBSCRIPTIONS_TABLE",
        "SUBSCRIPTION_ITEMS_TABLE",
        "PAYMENT_ATTEMPTS_TABLE",
        "PLANS_TABLE",
        "IDEMPOTENCY_TABLE",
    }


def test_table_overrides():
    config = load_config(
        env(
            USERS_TABLE="u",
            ORGANIZATIONS_TABLE="o",
            MEMBERSHIPS_TABLE="m",
            SESSIONS_TABLE="s",
            INVITATIONS_TABLE="t-invitations",
            ROLES_TABLE="t-roles",
            PERMISSIONS_TABLE="t-permissions",
            DOMAINS_TABLE="t-domains",
            WAITLIST_TABLE="t-waitlist",
            SUBSCRIPTIONS_TABLE="t-subscriptions",
            SUBSCRIPTION_ITEMS_TABLE="t-subscription_items",
            PAYMENT_ATTEMPTS_TABLE="t-payment_attempts",
            PLANS_TABLE="t-plans",
            IDEMPOTENCY_TABLE="i",
        )
    )
    assert {name: config.tables.named(name) for name in TABLE_VARIABLES} == {
        **{table.value: f"t-{table.value}" for table in Table},
        "users": "u",
        "organizations": "o",
        "memberships": "m",
        "sessions": "s",
        "idempotency": "i",
    }


@pytest.mark.parametrize(
    ("variable", "field"),
    [
        ("USERS_TABLE", "users"),
        ("ORGANIZATIONS_TABLE", "organizations"),
        ("MEMBERSHIPS_TABLE", "memberships"),
        ("SESSIONS_TABLE", "sessions"),
        ("INVITATIONS_TABLE", "invitations"),
        ("ROLES_TABLE", "roles"),
        ("PERMISSIONS_TABLE", "permissions"),
        ("DOMAINS_TABLE", "domains"),
        ("WAITLIST_TABLE", "waitlist"),
        ("SUBSCRIPTIONS_TABLE", "subscriptions"),
        ("SUBSCRIPTION_ITEMS_TABLE", "subscription_items"),
        ("PAYMENT_ATTEMPTS_TABLE", "payment_attempts"),
        ("IDEMPOTENCY_TABLE", "idempotency"),
    ],
)
def test_each_table_override_alone(variable, field):
    tables = load_config(env(**{variable: "custom-name"})).tables
    for other, other_variable in TABLE_VARIABLES.items():
        expected = "custom-name" if other == field else DEFAULT_TABLES[other_variable]
        assert tables.named(other) == expected


def test_empty_table_override_falls_back_to_the_default():
    assert load_config(env(USERS_TABLE="")).tables.name_of(Table.USERS) == "clerk-sync-users"


def test_several_secrets_from_the_environment():
    config = load_config(env(**{SECRET_ENV: f"{VECTOR_SECRET} {OTHER_SECRET}"}))
    assert config.signing_keys == (VECTOR_KEY, OTHER_KEY)


def test_missing_secret_variable():
    environ = env()
    del environ[SECRET_ENV]
    with pytest.raises(ConfigError, match=SECRET_ENV) as info:
        load_config(environ)
    assert "not set" in str(info.value)


def test_empty_secret_variable_in_environment():
    with pytest.raises(ConfigError, match=SECRET_ENV):
        load_config(env(**{SECRET_ENV: ""}))


def test_bad_secret_in_environment_is_not_echoed():
    with pytest.raises(ConfigError, match=SECRET_ENV) as info:
        load_config(env(**{SECRET_ENV: f"whsec_{SECRET_MATERIAL}!"}))
    assert_no_secret_material(info.value, SECRET_MATERIAL)


@pytest.mark.parametrize("value", [None, ""])
def test_side_effects_queue_url_required(value):
    environ = env()
    if value is None:
        del environ["SIDE_EFFECTS_QUEUE_URL"]
    else:
        environ["SIDE_EFFECTS_QUEUE_URL"] = value
    with pytest.raises(ConfigError, match="SIDE_EFFECTS_QUEUE_URL"):
        load_config(environ)


def test_reads_os_environ_by_default(monkeypatch):
    monkeypatch.setenv(SECRET_ENV, OTHER_SECRET)
    monkeypatch.setenv("SIDE_EFFECTS_QUEUE_URL", QUEUE_URL)
    monkeypatch.setenv("SESSIONS_TABLE", "from-os-environ")
    config = load_config()
    assert config.signing_keys == (OTHER_KEY,)
    assert config.tables.name_of(Table.SESSIONS) == "from-os-environ"


def test_config_is_frozen():
    config = load_config(env())
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.side_effects_queue_url = "x"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.tables.idempotency = "x"  # type: ignore[misc]


def test_worker_sending_rate_and_concurrency():
    queue = {"SIDE_EFFECTS_QUEUE_URL": "http://queue"}
    config = load_worker_config({**queue, "SES_MAX_SEND_RATE": "14", "WORKER_MAX_CONCURRENCY": "4"})
    assert (config.ses_max_send_rate, config.max_concurrency) == (14.0, 4)
    default = load_worker_config({**queue, "SES_MAX_SEND_RATE": "0"})
    assert (default.ses_max_send_rate, default.max_concurrency) == (None, 1)  # 0: ask SES
    for bad in (
        {"SES_MAX_SEND_RATE": "fast"},
        {"SES_MAX_SEND_RATE": "-1"},
        {"WORKER_MAX_CONCURRENCY": "2.5"},
    ):
        with pytest.raises(ConfigError, match=next(iter(bad))):
            load_worker_config({**queue, **bad})


def test_sms_delivery_is_off_unless_enabled_and_its_sender_settings_are_checked():
    queue = {"SIDE_EFFECTS_QUEUE_URL": "http://queue"}
    assert load_worker_config(queue).sms is None
    assert load_worker_config({**queue, "SMS_ENABLED": "false", "SMS_SENDER_ID": "Example"}).sms is None
    assert load_worker_config({**queue, "SMS_ENABLED": "true"}).sms == SmsConfig()
    configured = load_worker_config(
        {
            **queue,
            "SMS_ENABLED": "True",
            "SMS_ORIGINATION_NUMBER": "+12015550100",
            "SMS_SENDER_ID": "Example1",
        }
    ).sms
    assert configured == SmsConfig(origination_number="+12015550100", sender_id="Example1")
    for bad in (
        {"SMS_ENABLED": "yes please"},
        {"SMS_ENABLED": "true", "SMS_ORIGINATION_NUMBER": "2015550100"},
        {"SMS_ENABLED": "true", "SMS_SENDER_ID": "Example App"},
        {"SMS_ENABLED": "true", "SMS_SENDER_ID": "TwelveLetter"},
        {"SMS_ENABLED": "true", "SMS_SENDER_ID": "12345"},  # at least one letter
    ):
        with pytest.raises(ConfigError, match=list(bad)[-1]):
            load_worker_config({**queue, **bad})
    # the command line's resend turns SMS on whatever SMS_ENABLED says, with the same checks
    assert read_sms_config({}, enabled=True) == SmsConfig()
    with pytest.raises(dataclasses.FrozenInstanceError):
        configured.sender_id = "x"  # type: ignore[misc,union-attr]


def test_a_lazy_client_is_made_at_its_first_use_only():
    from clerk_sync.adapters.aws_clients import LazyClient

    made: list[str] = []

    class Clients:
        def client(self, service: str):
            made.append(service)
            return type("Client", (), {"send_message": lambda self, **_: "sent"})()

    lazy = LazyClient(Clients(), "sqs")  # type: ignore[arg-type]
    assert made == []
    assert lazy.send_message(QueueUrl="q") == "sent" and lazy.send_message() == "sent"
    assert made == ["sqs"]


# --------------------------------------------------------------------------------------------------
# STORE_COMPLETE_OBJECTS (the template's StoreCompleteObjects)


@pytest.mark.parametrize(("raw", "stored"), [(None, True), ("true", True), ("TRUE ", True), ("false", False)])
def test_complete_objects_are_stored_unless_turned_off(raw, stored):
    extra = {} if raw is None else {"STORE_COMPLETE_OBJECTS": raw}
    assert load_config({**env(), **extra}).store_complete_objects is stored
    reconcile = load_reconcile_config({"CLERK_SECRET_KEY": "sk_test_x", **extra})
    assert reconcile.store_complete_objects is stored
    assert load_read_config(extra).store_complete_objects is stored


def test_a_complete_objects_switch_that_is_not_true_or_false_is_a_configuration_error():
    with pytest.raises(ConfigError, match="STORE_COMPLETE_OBJECTS must be true or false"):
        load_config({**env(), "STORE_COMPLETE_OBJECTS": "yes"})
