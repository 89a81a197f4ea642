"""The read library with no AWS set-up at all (the developer's shell before `eval "$(clerk-sync env)"`):
one AwsConfigError with a one-line message naming what is missing and how to set it, raised by the
constructor, never botocore's NoRegionError or NoCredentialsError (nor its traceback, in a process)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from clerk_sync.read import AwsConfigError, ClerkData
from clerk_sync.settings import ConfigError

LOCAL_HINT = 'for a running `clerk-sync dev`, `eval "$(clerk-sync env)"` sets'
FUNCTIONS = Path(__file__).resolve().parents[2] / "functions"


@pytest.fixture
def nothing_set(tmp_path, monkeypatch):
    """No AWS variable, no ~/.aws files, no instance metadata service to ask."""
    for name in [n for n in os.environ if n.startswith("AWS_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


def test_from_environment_with_nothing_set_names_the_region(nothing_set):
    with pytest.raises(AwsConfigError) as raised:
        ClerkData.from_environment()
    assert str(raised.value) == f"ClerkData: no AWS region: set AWS_REGION ({LOCAL_HINT} it)"
    assert isinstance(raised.value, ConfigError)


def test_an_explicit_endpoint_without_credentials_names_the_credentials(nothing_set):
    with pytest.raises(AwsConfigError) as raised:
        ClerkData(
            tables={"users": "u", "organizations": "o", "memberships": "m", "sessions": "s"},
            region="us-east-1",
            endpoint_url="http://127.0.0.1:9",
        )
    assert str(raised.value) == (
        f"ClerkData: no AWS credentials in the environment, ~/.aws or an instance role ({LOCAL_HINT} them)"
    )


def test_a_given_session_without_a_region_is_the_same_error(nothing_set):
    import boto3

    with pytest.raises(AwsConfigError, match=r"^ClerkData: no AWS region"):
        ClerkData.from_environment(session=boto3.session.Session())


def test_in_a_process_with_nothing_set_the_error_is_one_line_and_not_botocores(tmp_path):
    probe = (
        "import sys\n"
        "from clerk_sync.read import AwsConfigError, ClerkData\n"
        "try:\n"
        "    ClerkData.from_environment()\n"
        "except AwsConfigError as error:\n"
        "    sys.exit(str(error))\n"
    )
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "PYTHONPATH": str(FUNCTIONS)}
    env["AWS_EC2_METADATA_DISABLED"] = "true"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 1
    assert done.stderr.splitlines() == [f"ClerkData: no AWS region: set AWS_REGION ({LOCAL_HINT} it)"]
