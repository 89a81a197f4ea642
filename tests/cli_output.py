"""Reading what `clerk-sync send` prints: `POST URL TYPE MSG_ID`, then `STATUS BODY`, per event."""

from __future__ import annotations

import json
from typing import Any


def send_answers(stdout: str) -> list[dict[str, Any]]:
    """Each event's answer: its HTTP status (`http`) and its JSON body's fields."""
    answers = []
    for line in stdout.splitlines()[1::2]:
        status, _, body = line.partition(" ")
        answers.append({"http": int(status), **json.loads(body)})
    return answers
