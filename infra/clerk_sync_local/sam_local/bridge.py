"""The Docker network the functions' containers join, and the relays through which they reach the engines.

The engines listen on 127.0.0.1, which a container cannot reach. The stack creates its own bridge
network and relays one TCP port per engine from that bridge's gateway address (an address of this
machine, reachable only from containers on that bridge) to the engine on loopback. The network is
removed, and the relays closed, when the stack stops.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import logging
import socket
import socketserver
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import urlsplit

from clerk_sync_local.stack.state import DevError

log = logging.getLogger(__name__)

LABEL = "clerk-sync.sam-local"
CHUNK = 65536


@dataclass(frozen=True)
class Network:
    """A bridge network of this stack: its name and the host's address on it."""

    name: str
    gateway: str


def docker(*args: str) -> subprocess.CompletedProcess[str]:
    """Run the docker CLI, its output captured."""
    return subprocess.run(["docker", *args], capture_output=True, text=True, check=False)


@contextlib.contextmanager
def bridge_network(name: str) -> Iterator[Network]:
    """A new bridge network; on exit its containers (SAM's, if any are left) and the network are removed."""
    created = docker("network", "create", "--driver", "bridge", "--label", LABEL, name)
    if created.returncode:
        raise DevError(f"cannot create the Docker network {name}: {created.stderr.strip()}")
    try:
        yield Network(name, _gateway(name))
    finally:
        remove_network(name)


def remove_network(name: str) -> None:
    """Remove the network's containers, then the network."""
    listed = docker("ps", "-aq", "--filter", f"network={name}")
    containers = listed.stdout.split()
    if containers:
        log.info("removing %d container(s) left on %s", len(containers), name)
        docker("rm", "-f", *containers)
    removed = docker("network", "rm", name)
    if removed.returncode and "not found" not in removed.stderr:
        log.warning("could not remove the Docker network %s: %s", name, removed.stderr.strip())


def _gateway(name: str) -> str:
    inspected = docker("network", "inspect", name)
    try:
        config = json.loads(inspected.stdout)[0]["IPAM"]["Config"][0]
    except (ValueError, LookupError, TypeError):
        raise DevError(f"cannot read the addresses of the Docker network {name}") from None
    if config.get("Gateway"):
        return str(config["Gateway"])
    subnet = ipaddress.ip_network(config["Subnet"])
    return str(next(subnet.hosts()))  # Docker's default: the subnet's first address


class _Relay(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, listen: str, target: tuple[str, int]) -> None:
        self.target = target
        super().__init__((listen, 0), _Pipe)

    @property
    def port(self) -> int:
        port: int = self.server_address[1]
        return port


class _Pipe(socketserver.BaseRequestHandler):
    server: _Relay

    def handle(self) -> None:
        try:
            upstream = socket.create_connection(self.server.target, timeout=10)
        except OSError as error:
            log.warning("relay to %s:%d: %s", *self.server.target, error)
            return
        upstream.settimeout(None)
        with upstream:
            back = threading.Thread(target=_copy, args=(upstream, self.request), daemon=True)
            back.start()
            _copy(self.request, upstream)
            back.join()


def _copy(source: socket.socket, target: socket.socket) -> None:
    with contextlib.suppress(OSError):
        while data := source.recv(CHUNK):
            target.sendall(data)
    with contextlib.suppress(OSError):
        target.shutdown(socket.SHUT_WR)


@contextlib.contextmanager
def relayed(gateway: str, endpoints: dict[str, str]) -> Iterator[dict[str, str]]:
    """Each loopback endpoint ("http://127.0.0.1:PORT") relayed from `gateway`: the URLs to use in
    containers, by the same keys."""
    relays: list[_Relay] = []
    urls: dict[str, str] = {}
    by_target: dict[tuple[str, int], str] = {}
    try:
        for key, endpoint in endpoints.items():
            parts = urlsplit(endpoint)
            target = (parts.hostname or "127.0.0.1", parts.port or 80)
            if target not in by_target:
                relay = _Relay(gateway, target)
                relays.append(relay)
                threading.Thread(target=relay.serve_forever, name=f"relay-{key}", daemon=True).start()
                by_target[target] = f"{parts.scheme}://{gateway}:{relay.port}"
            urls[key] = by_target[target]
        yield urls
    finally:
        for relay in relays:
            relay.shutdown()
            relay.server_close()
