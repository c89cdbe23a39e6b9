"""Endpoint overrides that would reach the host's own cloud metadata service are refused.

A sync sends signed requests, and shows the answers' errors, to whatever endpoint an account
names; pointed at a metadata address (169.254.169.254 and friends), it would fetch the host's
own cloud credentials. So an endpoint whose host is, or resolves to, a link-local or metadata
address is refused unless ALLOW_LINK_LOCAL_ENDPOINTS is set. Loopback and private addresses
stay allowed (fakecloud, a vendor's private link). A name that does not resolve here is
allowed: an endpoint may resolve only where the sync runs.
"""

import ipaddress
import socket
import threading
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

# Link-local ranges (AWS, GCP, Azure, Huawei, Tencent metadata live in 169.254/16), AWS's IPv6
# metadata address, and Alibaba Cloud's metadata address.
REFUSED_NETWORKS = tuple(
    ipaddress.ip_network(net) for net in ("169.254.0.0/16", "fe80::/10", "fd00:ec2::254/128", "100.100.100.200/32")
)
RESOLVE_TIMEOUT = 2.0  # seconds; a slower resolver counts as "does not resolve"


def is_refused_address(address: str) -> bool:
    """True for a link-local or cloud metadata address (an IPv4-mapped IPv6 form included)."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])  # fe80::1%eth0
    except ValueError:
        return False
    if ip.version == 6 and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return any(ip in net for net in REFUSED_NETWORKS)


def resolve(host: str, timeout: float = RESOLVE_TIMEOUT) -> list[str]:
    """The addresses ``host`` resolves to, or [] when it does not resolve within ``timeout``.

    getaddrinfo has no timeout of its own, so it runs in a daemon thread that is abandoned when
    it takes too long. Numeric forms (an IP literal, 2852039166, 0xa9.0xfe.0xa9.0xfe) resolve
    locally without a query.
    """
    found: list[list[str]] = []

    def lookup():
        try:
            infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError):
            return
        found.append([info[4][0] for info in infos])

    thread = threading.Thread(target=lookup, name="endpoint-resolve", daemon=True)
    thread.start()
    thread.join(timeout)
    return found[0] if found else []


def refused_address(url: str) -> str | None:
    """The link-local or metadata address an http(s) URL's host is or resolves to, if any."""
    try:
        parts = urlsplit(url.strip())
        host = parts.hostname
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not host:
        return None  # not an endpoint at all: the provider's own validation says so
    if is_refused_address(host):
        return host
    return next((address for address in resolve(host) if is_refused_address(address)), None)


def validate_endpoint(url: str) -> None:
    """Form validator of an endpoint override: refuses a link-local or metadata address."""
    if not url or settings.ALLOW_LINK_LOCAL_ENDPOINTS:
        return
    address = refused_address(url)
    if address is not None:
        raise ValidationError(
            _(
                "%(url)s reaches %(address)s, a link-local or cloud metadata address. Such endpoints "
                "are refused unless the server sets ALLOW_LINK_LOCAL_ENDPOINTS=true."
            ),
            code="link_local",
            params={"url": url, "address": address},
        )
