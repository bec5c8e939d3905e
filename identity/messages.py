"""The mails people get (invite, password reset) and the links in them, shared by the API and the CLI.

Tokens ride in the URL fragment (``#...``), which browsers never send to a server, so they do not end up in
access logs or proxies; the web app reads the fragment and posts the token in a body.
"""

from __future__ import annotations

from datetime import datetime

from core.settings import Settings


def public_url(settings: Settings) -> str:
    return (settings.public_url or f"http://{settings.api_host}:{settings.api_port}").rstrip("/")


def invite_link(settings: Settings, token: str) -> str:
    return f"{public_url(settings)}/invite#{token}"


def reset_link(settings: Settings, token: str) -> str:
    return f"{public_url(settings)}/reset-password#{token}"


def invite_mail(org_name: str, role: str, link: str, expires_at: datetime) -> tuple[str, str]:
    """``(subject, body)`` of an invitation."""
    subject = f"You are invited to {org_name} on agencyflow"
    body = (
        f"You have been invited to join {org_name} as {role}.\n\n"
        f"Accept the invitation and choose a password:\n{link}\n\n"
        f"The link works once and expires on {expires_at:%Y-%m-%d %H:%M} UTC.\n"
    )
    return subject, body


def reset_mail(link: str) -> tuple[str, str]:
    """``(subject, body)`` of a password reset."""
    body = (
        "Someone asked to reset your agencyflow password.\n\n"
        f"Choose a new one (the link works once, for an hour):\n{link}\n\n"
        "If it was not you, ignore this mail.\n"
    )
    return "Reset your agencyflow password", body
