"""Where webhooks may be delivered: public addresses only, unless the operator allows private ones.

A webhook URL is chosen by a tenant but requested by our worker, from inside the deployment's network;
without a check, "deliver to http://169.254.169.254/..." or "http://10.0.0.5:5432" would let any tenant
probe (or hit) the operator's internal services (server-side request forgery). Two checks:

* when an endpoint is registered or changed (``url_problem``): scheme, no credentials, a host, and the
  host must not *name* an internal target (an address literal that is not global, ``localhost``);
* before every delivery (``vet_delivery``): the host is resolved and every address it resolves to must
  be global. Resolving again at delivery time catches names that pointed elsewhere when registered.

``AGENCYFLOW_WEBHOOK_ALLOW_PRIVATE=1`` turns both off (a single-agency deployment delivering to its own
intranet, and the tests' local receivers).

DNS rebinding: if the HTTP client resolved the name again when connecting, a name whose answer changes
between our check and the connection (a public address, then seconds later an internal one) would get
through. So the delivery connects to the address that was checked (``pinned``: the URL's host replaced by
that address, the original name sent as ``Host`` and, for https, as the TLS server name, so virtual hosting
and certificate checks work as before), and a name that does not resolve at check time is not requested
at all (a retryable failure), since the client's own lookup a moment later might answer differently.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

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
    """Why ``url`` cannot be a webhook target, or None. No DNS lookup (see ``vet_delivery``)."""
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


@dataclass(frozen=True, slots=True)
class Vetted:
    """The outcome of checking a delivery target just before the request."""

    problem: str | None = None  # refused: never deliver here (not retried)
    address: str | None = None  # connect to this checked address (None: by name, private targets allowed)
    unresolved: str | None = None  # the name did not resolve: fail this attempt without a request (retried)


async def vet_delivery(url: str, *, allow_private: bool) -> Vetted:
    """Resolve the host and check every address it resolves to (a name with one private answer among public
    ones is refused); the first address is the one to connect to."""
    problem = url_problem(url, allow_private=allow_private)
    if problem is not None or allow_private:
        return Vetted(problem=problem)
    host, _ = _host(url)
    assert host is not None
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except OSError as exc:
        return Vetted(unresolved=f"cannot resolve {host}: {exc}")
    addresses = [_address(str(info[4][0])) for info in infos]
    if not addresses:
        return Vetted(unresolved=f"cannot resolve {host}: no addresses")
    for address in addresses:
        kind = _address_problem(address)
        if kind is not None:
            return Vetted(problem=f"{host} resolves to {address}, {kind}; webhooks go to public addresses")
    return Vetted(address=str(addresses[0]))


@dataclass(frozen=True, slots=True)
class PinnedRequest:
    url: str
    host_header: str
    tls_server_name: str | None  # https only: the name the certificate must be valid for


def pinned(url: str, address: str) -> PinnedRequest:
    """The request that reaches ``url``'s server at the checked ``address`` without resolving its name again."""
    parts = urlsplit(url)
    hostname = parts.hostname or ""
    literal = f"[{address}]" if ":" in address else address
    netloc = literal if parts.port is None else f"{literal}:{parts.port}"
    return PinnedRequest(
        url=urlunsplit((parts.scheme, netloc, parts.path, parts.query, "")),
        host_header=parts.netloc,
        tls_server_name=hostname if parts.scheme == "https" else None,
    )
