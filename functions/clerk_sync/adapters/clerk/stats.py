"""What a `ClerkApi` did: requests made, how their answers were read, waits (no I/O)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class ApiStats:
    """Requests made and how their answers were read."""

    requests: int = 0
    lenient_pages: int = 0  # pages the SDK rejected and that were read from raw JSON
    waits: int = 0
    waited_seconds: float = 0.0
    notes: list[str] = field(default_factory=list)
