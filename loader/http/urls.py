"""Which base URLs the loader may call: https anywhere, plain http only on this machine."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from loader.errors import ConfigError


def is_loopback(host: str) -> bool:
    """Tell whether a host name or address is on this machine.

    Args:
        host: A host name or an IP address.

    Returns:
        True for localhost and loopback addresses.
    """
    if host in {"localhost", "localhost.localdomain"}:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_base_url(base_url: str) -> str:
    """Validate a base URL: https anywhere, plain http only on loopback.

    Args:
        base_url: The URL, for example `https://api.example.com`.

    Returns:
        The URL without a trailing slash.

    Raises:
        ConfigError: If the URL is malformed or uses plain http off this machine.
    """
    parts = urlsplit(base_url)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise ConfigError(
            f"base URL {base_url!r} is not an http(s) URL",
            remedy="give a URL such as https://api.example.com",
        )
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        raise ConfigError(
            f"base URL {base_url!r} uses plain http to another machine, which would send the keys"
            " in clear text",
            remedy="use https, or http only for a server on 127.0.0.1 such as the emulator",
        )
    return base_url.rstrip("/")
