"""Local AWS engines: moto (in-process HTTP server) and DynamoDB Local (AWS's Java engine).

Both listen on 127.0.0.1 only, on a free port, and are context managers:

    with MotoEngine() as moto, DynamoDBLocalEngine(state_dir=Path(".local/state")) as dynamodb:
        provision(dynamodb_endpoint=dynamodb.endpoint, sqs_endpoint=moto.endpoint, names=...)
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from abc import ABC, abstractmethod
from collections import deque
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, NoReturn, Self

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from moto.server import ThreadedMotoServer
from werkzeug.serving import make_server

from clerk_sync_local.emulator import moto_fixes

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_sqs import SQSClient

LOOPBACK = "127.0.0.1"
DUMMY_KEY = "test"  # access key id and secret: the engines accept anything
DYNAMODB_LOCAL_DIR_ENV = "CLERK_SYNC_DYNAMODB_LOCAL_DIR"
DEFAULT_DYNAMODB_LOCAL_DIR = Path(__file__).resolve().parents[3] / ".local" / "dynamodb-local"

# DynamoDB Local 1.11.478 has no option to choose the listening address (see its -help): its
# ServerRunner creates a Jetty `Server(port)`, which listens on every interface, and it bundles an old
# log4j (2.8) plus a `/shell` web context. This launcher reuses ServerRunner's own option parsing,
# points the Jetty connector at 127.0.0.1 before it starts, and exits when its stdin reaches EOF,
# i.e. as soon as the Python process that started it is gone, however it died: no orphan Java.
# Run in Java's single-file source mode (needs a JDK, which the Java 17 install here provides).
_LAUNCHER_CLASS = "LoopbackDynamoDBLocal"
_LAUNCHER_SOURCE = """\
import com.amazonaws.services.dynamodbv2.local.main.ServerRunner;
import com.amazonaws.services.dynamodbv2.local.server.DynamoDBProxyServer;
import java.lang.reflect.Field;
import org.eclipse.jetty.server.Connector;
import org.eclipse.jetty.server.Server;

public class LoopbackDynamoDBLocal {
    public static void main(String[] args) {
        Thread watchdog = new Thread(() -> {
            try {
                while (System.in.read() != -1) { }
            } catch (java.io.IOException ignored) { }
            System.exit(0);
        });
        watchdog.setDaemon(true);
        watchdog.start();
        try {
            DynamoDBProxyServer proxy = ServerRunner.createServerFromCommandLineArgs(args);
            Field field = DynamoDBProxyServer.class.getDeclaredField("server");
            field.setAccessible(true);
            for (Connector connector : ((Server) field.get(proxy)).getConnectors()) {
                connector.setHost("127.0.0.1");
            }
            proxy.safeStart();
            System.out.println("DynamoDB Local listening on 127.0.0.1");
        } catch (Throwable error) {
            error.printStackTrace();
            System.exit(1);
        }
    }
}
"""


class EngineError(RuntimeError):
    """A local engine could not be started (the message says why and what to do)."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((LOOPBACK, 0))
        port: int = probe.getsockname()[1]
        return port


_CONFIG = Config(connect_timeout=2, read_timeout=10, retries={"mode": "standard", "max_attempts": 2})


def dynamodb_client(endpoint: str, region: str = "us-east-1") -> DynamoDBClient:
    """A DynamoDB client for a local engine (dummy credentials, short timeouts)."""
    return boto3.client(
        "dynamodb", endpoint_url=endpoint, region_name=region, config=_CONFIG,
        aws_access_key_id=DUMMY_KEY, aws_secret_access_key=DUMMY_KEY,
    )  # fmt: skip


def sqs_client(endpoint: str, region: str = "us-east-1") -> SQSClient:
    """An SQS client for a local engine (dummy credentials, short timeouts)."""
    return boto3.client(
        "sqs", endpoint_url=endpoint, region_name=region, config=_CONFIG,
        aws_access_key_id=DUMMY_KEY, aws_secret_access_key=DUMMY_KEY,
    )  # fmt: skip


def streams_client(endpoint: str, region: str = "us-east-1") -> Any:
    """A DynamoDB Streams client for a local engine (moto and DynamoDB Local serve it on their DynamoDB
    endpoint). Typed Any: the project installs no stubs for it."""
    return _client("dynamodbstreams", endpoint, region)


def events_client(endpoint: str, region: str = "us-east-1") -> Any:
    """An EventBridge client for a local engine (moto's)."""
    return _client("events", endpoint, region)


def logs_client(endpoint: str, region: str = "us-east-1") -> Any:
    """A CloudWatch Logs client for a local engine (moto's)."""
    return _client("logs", endpoint, region)


def _client(service: str, endpoint: str, region: str) -> Any:
    return boto3.client(
        service, endpoint_url=endpoint, region_name=region, config=_CONFIG,  # type: ignore[call-overload]
        aws_access_key_id=DUMMY_KEY, aws_secret_access_key=DUMMY_KEY,
    )  # fmt: skip


class _Engine(ABC):
    _endpoint: str | None = None

    @property
    def endpoint(self) -> str:
        """The engine's URL, "http://127.0.0.1:PORT" (only while it runs)."""
        if self._endpoint is None:
            raise EngineError(f"{type(self).__name__} is not running: call start() first")
        return self._endpoint

    @abstractmethod
    def start(self) -> str:
        """Start the engine and return its endpoint URL once it answers."""

    @abstractmethod
    def stop(self) -> None:
        """Stop the engine (does nothing if it is not running)."""

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


class _AtomicMotoServer(ThreadedMotoServer):
    """ThreadedMotoServer whose DynamoDB requests are atomic with respect to each other, whose memory
    does not grow with every item and message ever written, whose transactions cost the same
    whatever the tables' sizes, which answers SES's GetAccount, and whose streams refuse a shard or
    position they do not have as DynamoDB does (see `moto_fixes`)."""

    def _server_entry(self) -> None:
        moto_fixes.stop_tracking_churn()
        moto_fixes.roll_back_transactions_by_item()
        moto_fixes.answer_stream_positions()
        app = moto_fixes.AnswersSesGetAccount(
            moto_fixes.OneDynamoDBRequestAtATime(DomainDispatcherApplication(create_backend_app))
        )
        self._server = make_server(
            self._ip_address, self._port, app, True, request_handler=MotoRequestHandler
        )
        self._server_ready_event.set()
        self._server.serve_forever()


class MotoEngine(_Engine):
    """moto's server in a thread of this process (DynamoDB, SQS, SES, Secrets Manager, …)."""

    def __init__(self) -> None:
        self._server: ThreadedMotoServer | None = None

    def start(self) -> str:
        if self._server is None:
            # Port 0: the kernel picks a free port at bind time, so no other process can take it
            # between choosing and binding (ThreadedMotoServer.start() would hang on a failed bind).
            server = _AtomicMotoServer(ip_address=LOOPBACK, port=0, verbose=False)
            server.start()
            host, port = server.get_host_and_port()
            self._server, self._endpoint = server, f"http://{host}:{port}"
        return self.endpoint

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = self._endpoint = None


class DynamoDBLocalEngine(_Engine):
    """DynamoDB Local in a child Java process: in memory, or persisted under `state_dir`."""

    def __init__(
        self,
        install_dir: Path | None = None,
        state_dir: Path | None = None,
        *,
        startup_timeout: float = 60.0,
    ) -> None:
        # Absolute: the process runs in a temporary working directory.
        self.install_dir = (
            install_dir or Path(os.environ.get(DYNAMODB_LOCAL_DIR_ENV) or DEFAULT_DYNAMODB_LOCAL_DIR)
        ).resolve()
        self.state_dir = None if state_dir is None else state_dir.resolve()
        self.startup_timeout = startup_timeout
        self._process: subprocess.Popen[str] | None = None
        self._output: deque[str] = deque(maxlen=25)
        self._reader: threading.Thread | None = None
        self._workdir: tempfile.TemporaryDirectory[str] | None = None

    def start(self) -> str:
        if self._process is None:
            self._launch()
            self._wait_until_ready()
        return self.endpoint

    def stop(self) -> None:
        process, self._process, self._endpoint = self._process, None, None
        if process is not None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
            if process.stdin is not None:
                process.stdin.close()
        if self._reader is not None:
            self._reader.join(timeout=5)
            self._reader = None
        if self._workdir is not None:
            self._workdir.cleanup()
            self._workdir = None

    def _command(self, port: int) -> list[str]:
        jar = self.install_dir / "DynamoDBLocal.jar"
        if not jar.is_file():
            raise EngineError(
                f"DynamoDB Local is not installed: {jar} does not exist. Run `make dynamodb-local` "
                f"(or point {DYNAMODB_LOCAL_DIR_ENV} at a folder holding DynamoDBLocal.jar)."
            )
        java = shutil.which("java")
        if java is None:
            raise EngineError("`java` is not on PATH: DynamoDB Local needs a Java 17 JDK")
        lib = self.install_dir / "DynamoDBLocal_lib"
        if self.state_dir is None:
            storage = ["-inMemory"]
        else:
            self.state_dir.mkdir(parents=True, exist_ok=True)
            storage = ["-dbPath", str(self.state_dir)]
        # -sharedDb: one database whatever the client's credentials and region (without it, a client
        # configured for another region would silently see no tables).
        classpath = f"{jar}{os.pathsep}{lib / '*'}"
        launcher = f"{_LAUNCHER_CLASS}.java"
        return [
            java,
            f"-Djava.library.path={lib}",
            "-cp",
            classpath,
            launcher,
            "-port",
            str(port),
            *storage,
            "-sharedDb",
        ]

    def _launch(self) -> None:
        port = free_port()
        command = self._command(port)
        self._workdir = tempfile.TemporaryDirectory(prefix="clerk-sync-dynamodb-local-")
        (Path(self._workdir.name) / f"{_LAUNCHER_CLASS}.java").write_text(_LAUNCHER_SOURCE, encoding="utf-8")
        self._output.clear()
        self._process = subprocess.Popen(
            command,
            cwd=self._workdir.name,  # its /shell web context serves the working directory
            stdin=subprocess.PIPE,  # kept open: EOF tells the launcher to exit
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,  # its own process group, killed as a whole by stop()
        )
        self._reader = threading.Thread(target=self._drain, args=(self._process,), daemon=True)
        self._reader.start()
        self._endpoint = f"http://{LOOPBACK}:{port}"

    def _drain(self, process: subprocess.Popen[str]) -> None:
        assert process.stdout is not None
        with process.stdout:
            for line in process.stdout:
                self._output.append(line.rstrip())

    def _wait_until_ready(self) -> None:
        process, client = self._process, dynamodb_client(self.endpoint)
        assert process is not None
        deadline = time.monotonic() + self.startup_timeout
        while True:
            if process.poll() is not None:
                self._fail(f"DynamoDB Local exited with code {process.returncode} while starting")
            try:
                client.list_tables(Limit=1)
                return
            except (BotoCoreError, ClientError) as error:
                if time.monotonic() > deadline:
                    self._fail(f"DynamoDB Local did not answer within {self.startup_timeout:g} s ({error})")
            time.sleep(0.1)

    def _fail(self, reason: str) -> NoReturn:
        self.stop()
        output = "\n".join(self._output) or "(no output)"
        raise EngineError(f"{reason}. Last output:\n{output}")
