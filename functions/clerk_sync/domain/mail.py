"""E-mail content: the welcome template, and the shape every outgoing e-mail takes."""

from __future__ import annotations

import html
from dataclasses import dataclass
from functools import cache
from importlib import resources

WELCOME_SUBJECT = "Welcome!"


@dataclass(frozen=True)
class Email:
    """One outgoing e-mail."""

    to: str
    subject: str
    text: str | None
    html: str | None


@cache
def _template(name: str) -> str:
    return resources.files("clerk_sync").joinpath("templates", name).read_text(encoding="utf-8")


def welcome(to: str, first_name: str | None) -> Email:
    """The welcome e-mail for a new user (the name is HTML-escaped in the HTML part)."""
    name = (first_name or "").strip() or "there"
    return Email(
        to=to,
        subject=WELCOME_SUBJECT,
        text=_template("welcome.txt").format(name=name),
        html=_template("welcome.html").format(name=html.escape(name)),
    )
