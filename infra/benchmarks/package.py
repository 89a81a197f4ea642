"""Built artifact sizes: `sam build` (no Docker, arm64, python3.13 on PATH) into a scratch folder."""

from __future__ import annotations

import os
import shutil
import subprocess
import zipfile
from dataclasses import dataclass
from pathlib import Path

from clerk_sync_local.stack.template import TEMPLATE_PATH

ROOT = TEMPLATE_PATH.parent
TOOLS_BIN = Path(os.environ.get("CLERK_SYNC_TOOLS_BIN", ROOT / ".local" / "tools" / "bin"))
FUNCTIONS = ("WebhookFunction", "SideEffectsFunction")
MB = 1_000_000


@dataclass(frozen=True)
class ArtifactSize:
    """One function's built code: file bytes, and the zip `sam deploy` would upload."""

    function: str
    unzipped_mb: float
    zipped_mb: float


def python313_dir() -> Path | None:
    """A directory holding a real python3.13 (pyenv's first, then the PATH's)."""
    root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))
    candidates = sorted(root.glob("versions/3.13.*/bin"))
    found = shutil.which("python3.13")
    candidates += [Path(found).parent] if found else []
    return next((d for d in candidates if (d / "python3.13").exists()), None)


def build(into: Path) -> Path | str:
    """`sam build` from scratch into `into`; the build folder, or why it could not run."""
    python_dir = python313_dir()
    if not (TOOLS_BIN / "sam").exists() or python_dir is None:
        return "not built: needs `make tools` (sam) and python3.13 on PATH"
    env = {
        **os.environ,
        "SAM_CLI_TELEMETRY": "0",
        "PATH": f"{python_dir}{os.pathsep}{TOOLS_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    command = [
        str(TOOLS_BIN / "sam"), "build", "--template-file", str(TEMPLATE_PATH),
        "--build-dir", str(into / "build"), "--cache-dir", str(into / "cache"), "--no-cached",
    ]  # fmt: skip
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    if result.returncode != 0:
        return f"not built: sam build failed\n{result.stdout[-3000:]}{result.stderr[-3000:]}"
    return into / "build"


def sizes(built: Path, scratch: Path) -> list[ArtifactSize]:
    """Both functions' sizes."""
    return [size(function, built / function, scratch / f"{function}.zip") for function in FUNCTIONS]


def size(function: str, artifact: Path, archive: Path) -> ArtifactSize:
    """Size one built function, zipping it into `archive` as `sam deploy` would."""
    files = [p for p in artifact.rglob("*") if p.is_file()]
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as bundle:
        for path in files:
            bundle.write(path, path.relative_to(artifact))
    unzipped = sum(p.stat().st_size for p in files)
    return ArtifactSize(function, unzipped / MB, archive.stat().st_size / MB)
