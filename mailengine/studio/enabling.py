"""When the studio is served: only once someone can log in (or `studio.enabled` says so), and
never where passwords would cross a network in the clear.
"""

from __future__ import annotations

import ipaddress

from mailengine.config import Settings
from mailengine.errors import ConfigError
from mailengine.store.database import Database
from mailengine.store.users import count_users

LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost"})
HOW_TO_TURN_ON = (
    "`mailengine user add EMAIL --role admin` makes the first account (or set studio.enabled)"
)


class StudioBindError(ConfigError):
    """The studio would serve log-ins over plain HTTP on an address others can reach."""


def studio_enabled(settings: Settings, database: Database) -> bool:
    """On when `studio.enabled` is set or at least one user exists."""
    if settings.studio.enabled:
        return True
    with database.session() as session:
        return count_users(session) > 0


def is_loopback(host: str) -> bool:
    if host.strip().lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip().strip("[]")).is_loopback
    except ValueError:
        return False


def check_bind(settings: Settings, host: str | None = None) -> None:
    """Refuse a non-loopback bind address unless the public URL is https or
    `studio.allow_insecure_bind` is set."""
    bound = settings.http.host if host is None else host
    if is_loopback(bound) or settings.studio.allow_insecure_bind:
        return
    if settings.http.public_url.lower().startswith("https://"):
        return
    raise StudioBindError(
        f"the studio will not serve on {bound} (http.host), an address other machines can "
        f"reach, while http.public_url ({settings.http.public_url}) is not https: passwords "
        "and session cookies would cross the network in the clear. Put it behind TLS and set "
        "http.public_url to its https address, bind http.host to 127.0.0.1, or set "
        "studio.allow_insecure_bind: true"
    )
