"""The parts of `make sam-local` that need no engine: the template SAM serves, the image's name, the
mirror it is built from, how the worker reads start-lambda's answers, and the refusal where no engine
can be had."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from clerk_sync_local.sam_local import docker_engine
from clerk_sync_local.sam_local.image import ARCHITECTURES, debian_mirror, image_name
from clerk_sync_local.sam_local.sam import StartLambdaFunction, write_local_template
from clerk_sync_local.stack.functions import function_specs
from clerk_sync_local.stack.state import DevError
from clerk_sync_local.stack.template import TEMPLATE_PATH, load_template

BUILT = """\
Globals:
  Function:
    Runtime: python3.13
    Architectures: [arm64]
    Environment:
      Variables:
        USERS_TABLE: !Ref UsersTable
Resources:
  WebhookFunction:
    Type: AWS::Serverless::Function
    Properties: {Handler: a.handler, CodeUri: WebhookFunction, Timeout: 8}
  SideEffectsFunction:
    Type: AWS::Serverless::Function
    Properties: {Handler: b.handler, CodeUri: SideEffectsFunction, Timeout: 30}
  ReconcileFunction:
    Type: AWS::Serverless::Function
    Condition: ReconcileEnabled
    Properties: {Handler: c.handler, CodeUri: ReconcileFunction, Layers: [!Ref SdkLayer]}
  SdkLayer:
    Type: AWS::Serverless::LayerVersion
    Properties: {ContentUri: SdkLayer}
  UsersTable:
    Type: AWS::DynamoDB::Table
"""


def local_template(tmp_path: Path, architecture: str, factor: int = 1) -> dict:
    built = tmp_path / "template.yaml"
    built.write_text(BUILT)
    path = write_local_template(built, {"WebhookFunction", "SideEffectsFunction"}, architecture, factor)
    assert path.parent == built.parent  # CodeUri stays relative to the build folder
    return load_template(path)


def test_the_local_template_declares_the_endpoints_and_drops_what_is_not_run(tmp_path: Path):
    template = local_template(tmp_path, "arm64")
    variables = template["Globals"]["Function"]["Environment"]["Variables"]
    assert variables == {
        "USERS_TABLE": {"Ref": "UsersTable"},
        "AWS_ENDPOINT_URL": "",
        "AWS_ENDPOINT_URL_DYNAMODB": "",
    }
    assert sorted(template["Resources"]) == ["SideEffectsFunction", "UsersTable", "WebhookFunction"]
    assert template["Globals"]["Function"]["Architectures"] == ["arm64"]
    assert template["Resources"]["WebhookFunction"]["Properties"]["Timeout"] == 8


def test_another_architecture_and_emulation_change_only_the_local_copy(tmp_path: Path):
    template = local_template(tmp_path, "x86_64", factor=15)
    assert template["Globals"]["Function"]["Architectures"] == ["x86_64"]
    timeouts = {k: r["Properties"]["Timeout"] for k, r in template["Resources"].items() if "Function" in k}
    assert timeouts == {"WebhookFunction": 120, "SideEffectsFunction": 450}
    assert "x86_64" not in (tmp_path / "template.yaml").read_text()


def test_the_project_template_has_what_the_local_template_relies_on():
    template = load_template(TEMPLATE_PATH)
    assert template["Globals"]["Function"]["Architectures"] == ["arm64"]
    specs = function_specs(template, TEMPLATE_PATH.parent)
    assert {"WebhookFunction", "SideEffectsFunction"} <= set(specs)
    assert "AWS_ENDPOINT_URL" not in yaml.safe_dump(template)  # declared in the local copy only


def test_the_image_name_changes_with_its_inputs():
    arm, x86 = ARCHITECTURES["arm64"], ARCHITECTURES["x86_64"]
    name = image_name(arm, "http://deb.debian.org/debian")
    assert name.startswith("clerk-sync-lambda-python3.13:arm64-")
    assert name == image_name(arm, "http://deb.debian.org/debian")
    assert name != image_name(arm, "http://mirror.example/debian")
    assert image_name(x86, "http://deb.debian.org/debian").startswith("clerk-sync-lambda-python3.13:x86_64-")


def test_the_mirror_is_read_from_either_apt_format(tmp_path: Path):
    deb822 = tmp_path / "debian.sources"
    deb822.write_text("Types: deb\nURIs: http://deb.debian.org/debian\nSuites: bookworm\n")
    one_line = tmp_path / "sources.list"
    one_line.write_text("# comment\ndeb [arch=amd64] http://mirror.example/debian/ bookworm main\n")
    other = tmp_path / "node.sources"
    other.write_text("URIs: https://deb.nodesource.com/node_20.x\n")
    assert debian_mirror((other, deb822)) == "http://deb.debian.org/debian"
    assert debian_mirror((one_line,)) == "http://mirror.example/debian"


class _Answers(http.server.BaseHTTPRequestHandler):
    """start-lambda's Invoke API, answering with the body and header the test sets."""

    body = b""
    function_error = ""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        self.send_response(200)
        if self.function_error:
            self.send_header("X-Amz-Function-Error", self.function_error)
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def start_lambda() -> Iterator[int]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Answers)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def test_the_worker_takes_only_a_real_answer_as_success(start_lambda: int):
    spec = function_specs(load_template(TEMPLATE_PATH), TEMPLATE_PATH.parent)["SideEffectsFunction"]
    function = StartLambdaFunction(start_lambda, spec)
    _Answers.body, _Answers.function_error = b'{"batchItemFailures": []}', ""
    assert function.invoke({"Records": []}).result == {"batchItemFailures": []}
    _Answers.body = b""  # what SAM answers when the container did not respond
    assert "no response" in str(function.invoke({"Records": []}).error)
    _Answers.body, _Answers.function_error = b'{"errorType": "KeyError", "errorMessage": "x"}', "Unhandled"
    assert function.invoke({"Records": []}).error == "KeyError: x"


def test_without_an_engine_and_a_way_to_install_one_it_stops_with_one_line(monkeypatch, tmp_path: Path):
    monkeypatch.setattr(docker_engine, "server_version", lambda: None)
    monkeypatch.setattr(docker_engine, "can_install", lambda: False)
    with pytest.raises(DevError) as refused, docker_engine.docker_engine(tmp_path):
        raise AssertionError("no engine should be yielded")
    assert str(refused.value) == docker_engine.NO_ENGINE and "\n" not in docker_engine.NO_ENGINE
    assert "install Docker" in docker_engine.NO_ENGINE
