"""Where webhooks may be delivered: public addresses only, unless the operator allows private ones.

A webhook URL is chosen by a tenant but requested by our worker, from inside the deployment's network;
without a check, "deliver to http://169.254.169.254/..." or "http://10.0.0.5:5432" would let any tenant
probe (or hit) the operator's internal services (server-side request forgery). Two checks:

* when an endpoint is registered or changed (``url_problem``): scheme, no credentials, a host, and the
  host must not *name* an internal target (an address literal that is not global, ``localhost``);
* before every delivery (``delivery_problem``): the host is resolved and every address it resolves to must
  be global. Resolving again at delivery time catches names that pointed elsewhere when registered.

``AGENCYFLOW_WEBHOOK_ALLOW_PRIVATE=1`` turns both off (a single-agency deployment delivering to its own
intranet, and the tests' local receivers). What remains open: the HTTP client resolves the name once more
when it connects, so a name whose DNS answer changes between the check and the connection (rebinding
within seconds) is not caught.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from urllib.parse import urlsplit

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def _address(text: str) -> IpAddress:
    """An address literal (zone id dropped), IPv4-mapped IPv6 addresses as the IPv4 address they carry."""
    address = ipaddress.ip_address(text.split("%", 1)[0])
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _address_problem(address: IpAddress) -> str | None:
    """What kind of internal address this is ("a loopback address", ...), or None for a public one."""
    if address.is_loopback:
        return "a loopback address"
    if address.is_link_local:
        return "a link-local address (cloud metadata services live there)"
    if address.is_multicast:
        return "a multicast address"
    if not address.is_global:
        return "a private or reserved address"
    return None


def _host(url: str) -> tuple[str | None, str | None]:
    """(host, problem) of a URL, from its syntax alone."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port out of range
    except ValueError as exc:
        return None, f"not a valid URL: {exc}"
    if parts.scheme not in ("http", "https"):
        return None, "the scheme must be http or https"
    if parts.username is not None or parts.password is not None:
        return None, "credentials in the URL are not allowed (sign with the endpoint's secret instead)"
    host = (parts.hostname or "").rstrip(".").lower()
    if not host:
        return None, "the URL has no host"
    return host, None


def url_problem(url: str, *, allow_private: bool) -> str | None:
    """Why ``url`` cannot be a webhook target, or None. No DNS lookup (see ``delivery_problem``)."""
    host, problem = _host(url)
    if problem is not None or host is None:
        return problem
    if allow_private:
        return None
    if host == "localhost" or host.endswith(".localhost"):
        return f"{host} is this machine; webhooks go to public addresses"
    try:
        address = _address(host)
    except ValueError:
        return None  # a name: checked when it is resolved, before each delivery
    kind = _address_problem(address)
    return None if kind is None else f"{address} is {kind}; webhooks go to public addresses"


async def delivery_problem(url: str, *, allow_private: bool) -> str | None:
    """Why a delivery to ``url`` must not be attempted now, or None. Resolves the host; every address it
    resolves to must be public (a name with one private answer among public ones is refused)."""
    problem = url_problem(url, allow_private=allow_private)
    if problem is not None or allow_private:
        return problem
    host, _ = _host(url)
    assert host is not None
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except OSError:
        return None  # unresolvable: the request fails as a network error and is retried
    for info in infos:
        address = _address(str(info[4][0]))
        kind = _address_problem(address)
        if kind is not None:
            return f"{host} resolves to {address}, {kind}; webhooks go to public addresses"
    return None
