"""The Lambda-like image `sam local` runs the functions in: Debian trixie's Python 3.13 plus awslambdaric.

No registry is needed. debootstrap (first stage only: it downloads and unpacks the base system at the
host's speed, whatever the target architecture) fetches the packages from the Debian mirror apt uses;
the rest of the packages it downloaded (python3.13 and its libraries) are unpacked with `dpkg-deb -x`,
with no maintainer scripts (the standard library's bytecode, which python3's would make, is compiled
here instead): the image is a root file system to run Python from, not a Debian system to
administer. The awslambdaric wheel (and its dependencies) are downloaded on the host for the target
architecture and unpacked into /var/runtime, where Lambda's own images keep the runtime client, beside
`/var/runtime/bootstrap`, which the emulator SAM adds (aws-lambda-rie) runs. A `FROM scratch` build
(no network) turns the tree into an image, tagged with a digest of every input: an unchanged image is
never rebuilt.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

from clerk_sync_local.sam_local.docker_engine import apt_install, can_install
from clerk_sync_local.stack.state import DevError

log = logging.getLogger(__name__)

REPOSITORY = "clerk-sync-lambda-python3.13"
SUITE = "trixie"  # Python 3.13, the runtime the template deploys
PACKAGES = ("python3",)
RUNTIME_CLIENT = "awslambdaric==4.2.2"
APT_SOURCES = (Path("/etc/apt/sources.list"), *sorted(Path("/etc/apt/sources.list.d").glob("*")))
BOOTSTRAP = """\
#!/bin/sh
# Lambda's custom-runtime entry point: the emulator runs it, awslambdaric serves the handler.
export LAMBDA_TASK_ROOT="${LAMBDA_TASK_ROOT:-/var/task}"
export PYTHONPATH="$LAMBDA_TASK_ROOT:/opt/python:/var/runtime"
cd "$LAMBDA_TASK_ROOT"
exec /usr/bin/python3 -m awslambdaric "${_HANDLER:-$AWS_LAMBDA_FUNCTION_HANDLER}"
"""
DOCKERFILE = """\
FROM scratch
ADD root.tar /
WORKDIR /var/task
ENV LANG=C.UTF-8
"""


@dataclass(frozen=True)
class Architecture:
    """A Lambda architecture, as Debian, Docker and pip name it."""

    lambda_name: str
    debian: str
    docker: str
    wheel_platform: str


ARCHITECTURES = {
    "arm64": Architecture("arm64", "arm64", "linux/arm64", "manylinux2014_aarch64"),
    "x86_64": Architecture("x86_64", "amd64", "linux/amd64", "manylinux2014_x86_64"),
}


@dataclass(frozen=True)
class Image:
    """A built image: its name, size, and how long this call took to get it (0 when cached)."""

    name: str
    size_bytes: int
    build_seconds: float


def debian_mirror(sources: tuple[Path, ...] = APT_SOURCES) -> str:
    """The first Debian archive in apt's sources (one-line `deb URL …` or deb822 `URIs:`)."""
    for path in sources:
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        for url in re.findall(r"^\s*(?:deb\s+(?:\[[^\]]*\]\s+)?|URIs:\s*)(\S+)", text, re.MULTILINE):
            if url.rstrip("/").endswith("/debian"):
                return str(url).rstrip("/")
    raise DevError("no Debian mirror in /etc/apt/sources*: sam-local builds its image from Debian packages")


def image_name(architecture: Architecture, mirror: str) -> str:
    """The image's name: repository, architecture and a digest of everything that goes into it."""
    inputs = {
        "suite": SUITE,
        "packages": PACKAGES,
        "mirror": mirror,
        "architecture": architecture.debian,
        "runtime_client": RUNTIME_CLIENT,
        "bootstrap": BOOTSTRAP,
        "dockerfile": DOCKERFILE,
    }
    digest = hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()[:12]
    return f"{REPOSITORY}:{architecture.lambda_name}-{digest}"


def image_size(name: str) -> int | None:
    """The image's size in bytes, or None when there is no such image."""
    answer = subprocess.run(
        ["docker", "image", "inspect", "--format", "{{.Size}}", name],
        capture_output=True,
        text=True,
        check=False,
    )
    return int(answer.stdout.strip()) if answer.returncode == 0 else None


def ensure_image(architecture: Architecture, work_dir: Path) -> Image:
    """The image for `architecture`: the existing one, or one built now."""
    mirror = debian_mirror()
    name = image_name(architecture, mirror)
    size = image_size(name)
    if size is not None:
        return Image(name, size, 0.0)
    started = time.monotonic()
    log.info("building %s from %s %s (once: it is kept for later runs)", name, mirror, SUITE)
    _build(name, architecture, mirror, work_dir)
    size = image_size(name)
    if size is None:
        raise DevError(f"`docker build` reported success but there is no image {name}")
    _remove_older(name, architecture)
    return Image(name, size, time.monotonic() - started)


def _remove_older(name: str, architecture: Architecture) -> None:
    """Images this one replaces (same architecture, other inputs): nothing refers to them any more."""
    listed = subprocess.run(
        ["docker", "images", REPOSITORY, "--format", "{{.Repository}}:{{.Tag}}"],
        capture_output=True,
        text=True,
        check=False,
    )
    older = [
        tag for tag in listed.stdout.split() if tag.startswith(f"{REPOSITORY}:{architecture.lambda_name}-")
    ]
    older = [tag for tag in older if tag != name]
    if older:
        log.info("removing the images this one replaces: %s", ", ".join(older))
        subprocess.run(["docker", "rmi", *older], capture_output=True, check=False)


def _build(name: str, architecture: Architecture, mirror: str, work_dir: Path) -> None:
    if shutil.which("debootstrap") is None:
        if not can_install():
            raise DevError("debootstrap is missing: install it (sam-local builds its image with it)")
        apt_install(("debootstrap",), work_dir / "apt.log")
    root = work_dir / f"rootfs-{architecture.debian}"
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    build_log = work_dir / "image-build.log"
    try:
        _run(
            [
                "debootstrap", "--foreign", "--variant=minbase", f"--arch={architecture.debian}",
                f"--include={','.join(PACKAGES)}", SUITE, str(root), mirror,
            ],
            build_log,
        )  # fmt: skip
        proc = root / "proc"
        if proc.is_symlink():  # the first stage links it to the host's /proc; the engine mounts one
            proc.unlink()
        proc.mkdir(exist_ok=True)
        archives = root / "var" / "cache" / "apt" / "archives"
        for package in sorted(archives.glob("*.deb")):
            _run(["dpkg-deb", "-x", str(package), str(root)], build_log)
        shutil.rmtree(root / "debootstrap", ignore_errors=True)
        for deb in archives.glob("*.deb"):
            deb.unlink()
        _add_runtime(root, architecture, work_dir / f"wheels-{architecture.debian}", build_log)
        _compile(root, build_log)
        context = work_dir / "image-context"
        shutil.rmtree(context, ignore_errors=True)
        context.mkdir()
        _run(["tar", "-C", str(root), "-cf", str(context / "root.tar"), "."], build_log)
        (context / "Dockerfile").write_text(DOCKERFILE, encoding="utf-8")
        # `docker build --platform` labels the image with its architecture (Debian 12's engine ignores
        # `docker import --platform`, and SAM refuses to build on an image labelled for another one)
        _run(
            [
                "docker", "build", "--quiet", "--network", "none", "--platform", architecture.docker,
                "--tag", name, str(context),
            ],
            build_log,
            environment={**os.environ, "DOCKER_BUILDKIT": "0"},  # the classic builder: no buildx needed
        )  # fmt: skip
    finally:
        shutil.rmtree(root, ignore_errors=True)
        shutil.rmtree(work_dir / "image-context", ignore_errors=True)


def _add_runtime(root: Path, architecture: Architecture, wheels: Path, build_log: Path) -> None:
    """awslambdaric and its dependencies into /var/runtime, and the bootstrap beside them."""
    shutil.rmtree(wheels, ignore_errors=True)
    _run(
        [
            sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check",
            "--only-binary=:all:", "--platform", architecture.wheel_platform, "--implementation", "cp",
            "--python-version", "3.13", "--dest", str(wheels), RUNTIME_CLIENT,
        ],
        build_log,
    )  # fmt: skip
    runtime = root / "var" / "runtime"
    runtime.mkdir(parents=True, exist_ok=True)
    (root / "var" / "task").mkdir(parents=True, exist_ok=True)
    for wheel in sorted(wheels.glob("*.whl")):
        with zipfile.ZipFile(wheel) as archive:
            archive.extractall(runtime)
    for library in runtime.rglob("*.so"):
        library.chmod(0o755)
    bootstrap = runtime / "bootstrap"
    bootstrap.write_text(BOOTSTRAP, encoding="utf-8")
    bootstrap.chmod(0o755)


def _compile(root: Path, build_log: Path) -> None:
    """Bytecode for the standard library and the runtime client, as Debian's postinst (py3compile) would
    make it: compiled here by this 3.13 interpreter (same bytecode as trixie's 3.13), not under emulation,
    where every module without its .pyc costs about a second at each cold start."""
    if sys.version_info[:2] != (3, 13):
        raise DevError(f"the image's bytecode is compiled by Python 3.13, not {sys.version.split()[0]}")
    folders = [str(root / "usr" / "lib" / "python3.13"), str(root / "var" / "runtime")]
    _run(
        [sys.executable, "-m", "compileall", "-q", "-j", "0", "-s", str(root), "-p", "/", *folders],
        build_log,
    )


def _run(command: list[str], build_log: Path, environment: dict[str, str] | None = None) -> None:
    build_log.parent.mkdir(parents=True, exist_ok=True)
    with build_log.open("ab") as output:
        done = subprocess.run(command, stdout=output, stderr=subprocess.STDOUT, env=environment, check=False)
        if done.returncode:
            raise DevError(f"`{' '.join(command[:2])} …` failed while building the image: see {build_log}")
