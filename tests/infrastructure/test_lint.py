"""Static checks of template.yaml, all offline: cfn-lint, `sam validate --lint` and checkov.

The three tools start together (≈15 s in all, checkov being the slowest) and each test reads one result.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from clerk_sync.domain.tables import TABLES
from clerk_sync_local.stack.template import TEMPLATE_PATH

ROOT = TEMPLATE_PATH.parent
BIN = Path(os.environ.get("CLERK_SYNC_TOOLS_BIN", TEMPLATE_PATH.parent / ".local" / "tools" / "bin"))
TIMEOUT_SECONDS = 240

# Findings of any level that are accepted, each with the reason. Empty: none is.
ACCEPTED_CFN_LINT: dict[str, str] = {}

# checkov checks suppressed inline (Metadata: checkov: skip:, each with its written reason) and the
# resources they are suppressed on; a new suppression must be added here too, so that it gets reviewed.
SUPPRESSED_CHECKOV = {
    "CKV_AWS_26": {"AlarmTopic"},  # SNS encryption: CloudWatch cannot publish with the AWS managed key
    # sees KMS only, not SQS-managed SSE
    "CKV_AWS_27": {"SideEffectsQueue", "SideEffectsDeadLetterQueue", "ChangesFailedQueue"},
    "CKV_AWS_111": {  # X-Ray: "*"
        "WebhookFunctionRole",
        "SideEffectsFunctionRole",
        "ReconcileFunctionRole",
        "ChangesFunctionRole",
    },
    "CKV_AWS_115": {"SideEffectsFunction", "ChangesFunction"},  # capped by its event sources instead
    # no async invocations (116), no VPC (117), no secrets in the environment (173)
    "CKV_AWS_116": {"WebhookFunction", "SideEffectsFunction", "ReconcileFunction", "ChangesFunction"},
    "CKV_AWS_117": {"WebhookFunction", "SideEffectsFunction", "ReconcileFunction", "ChangesFunction"},
    "CKV_AWS_119": {*(spec.template_id for spec in TABLES.values()), "IdempotencyTable"},  # AWS managed key
    "CKV_AWS_149": {"SigningSecret", "ClerkSecretKey"},  # AWS managed key
    "CKV_AWS_158": {
        *("WebhookLogGroup", "SideEffectsLogGroup", "HttpApiAccessLogGroup"),
        *("ReconcileLogGroup", "ChangesLogGroup"),
    },
    "CKV_AWS_173": {"WebhookFunction", "SideEffectsFunction", "ReconcileFunction", "ChangesFunction"},
}


@dataclass
class Run:
    args: list[str]
    process: subprocess.Popen[str]

    def result(self) -> tuple[int, str, str]:
        out, err = self.process.communicate(timeout=TIMEOUT_SECONDS)
        return self.process.returncode, out, err


def start(*args: str) -> Run:
    env = {
        **os.environ,
        "SAM_CLI_TELEMETRY": "0",  # offline: no usage reports
        "AWS_DEFAULT_REGION": os.environ.get("AWS_DEFAULT_REGION", "us-east-1"),
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    process = subprocess.Popen(
        list(args), cwd=ROOT, env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    return Run(list(args), process)


@pytest.fixture(scope="module")
def runs() -> Iterator[dict[str, Run]]:
    started = {
        "cfn-lint": start(str(BIN / "cfn-lint"), "--format", "json", "-c", "I", "--", str(TEMPLATE_PATH)),
        "sam": start(str(BIN / "sam"), "validate", "--lint", "--template-file", str(TEMPLATE_PATH)),
        "checkov": start(
            str(BIN / "checkov"),
            "--file",
            str(TEMPLATE_PATH),
            "--framework",
            "cloudformation",
            "--skip-download",  # offline: no guideline links from the vendor's API
            "--output",
            "json",
        ),
    }
    yield started
    for run in started.values():
        if run.process.poll() is None:
            run.process.kill()
            run.process.wait()


def test_cfn_lint(runs):
    code, out, err = runs["cfn-lint"].result()
    findings = json.loads(out or "[]")
    unexplained = [
        f"{f['Rule']['Id']} line {f['Location']['Start']['LineNumber']}: {f['Message']}"
        for f in findings
        if f["Rule"]["Id"] not in ACCEPTED_CFN_LINT
    ]
    assert not unexplained, "\n".join(unexplained)
    assert code == 0 or findings, err


def test_sam_validate_lint(runs):
    code, out, err = runs["sam"].result()
    assert code == 0, out + err
    assert "is a valid SAM Template" in out + err


def test_checkov(runs):
    code, out, err = runs["checkov"].result()
    report = json.loads(out)
    summary = report["summary"]
    failed = [
        f"{c['check_id']} {c['resource']}: {c['check_name']}" for c in report["results"]["failed_checks"]
    ]
    assert not failed, "\n".join(failed)
    assert summary["parsing_errors"] == 0 and summary["passed"] > 0
    assert code == 0, err

    suppressed: dict[str, set[str]] = {}
    for check in report["results"]["skipped_checks"]:
        comment = check["check_result"].get("suppress_comment", "")
        assert len(comment.split()) >= 6, f"{check['check_id']} on {check['resource']}: write the reason"
        suppressed.setdefault(check["check_id"], set()).add(check["resource"].rsplit(".", 1)[-1])
    assert suppressed == SUPPRESSED_CHECKOV
