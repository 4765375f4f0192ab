"""Which hosts are this machine: the rule the service's guards and the extension's network checks share.

A service bound to a loopback address needs no token; the extension talks to a loopback service
without Blender's online access and may start and stop it. Both decide "loopback" here.
"""

from __future__ import annotations

import ipaddress
import urllib.parse


def is_loopback_host(host: str) -> bool:
    """True for localhost and loopback addresses (127.0.0.0/8, ::1), bracketed or not."""
    host = host.strip("[]").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def is_loopback_url(url: str) -> bool:
    """True when the URL's host is this machine."""
    try:
        return is_loopback_host(urllib.parse.urlsplit(url).hostname or "")
    except ValueError:  # a malformed URL (e.g. an unclosed IPv6 bracket) is not this machine
        return False
