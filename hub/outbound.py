"""The one guard for addresses the hub or its worker fetch on a user's word.

A teacher may give a stream address (``external_link``'s ``pull_url`` or
``playback_url``) that the worker's ffmpeg then opens. Without a guard that is a
server-side request forgery: ``http://127.0.0.1:...``, a private network or the cloud
metadata address ``169.254.169.254`` would be fetched from inside, and the result
published as a replay. ``check_url`` refuses:

- schemes other than ``http``, ``https``, ``rtmp``, ``rtmps`` and ``srt`` (so ``file:``,
  ``concat:``, ``data:``, ``subfile:`` ... never reach ffmpeg);
- hosts that are, or resolve to, loopback, private, link-local, multicast, reserved,
  unspecified or shared (CGNAT) addresses, IPv4 and IPv6 alike, including IPv4-mapped
  and 6to4/Teredo-wrapped IPv4 addresses;

unless the host or its address is in the admin's allow list (``SHAREHUB_PULL_ALLOW``:
host names and CIDR networks, separated by commas or spaces).

It is applied twice: when the URL is saved (a name that does not resolve yet may be
saved, ``unresolved_ok``: the stream may be set up later) and again on the resolved
addresses when the recorder starts, so a name that later points inside is refused then.
ffmpeg itself is further held to the source's protocols (``-protocol_whitelist``) and
follows no redirects (``-max_redirects 0``), see ``media.commands.source_options``.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from hub.errors import Invalid

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
PULL_SCHEMES = frozenset({"http", "https", "rtmp", "rtmps", "srt"})
DEFAULT_PORTS = {"http": 80, "https": 443, "rtmp": 1935, "rtmps": 443, "srt": 0}
SHARED = ipaddress.ip_network("100.64.0.0/10")
"""Carrier-grade NAT space: not global, though Python's ``is_private`` says no."""
Resolver = Callable[[str, int], list[str]]


class Refused(Invalid):
    """An address the hub will not fetch: a 400 naming the field."""


@dataclass(frozen=True)
class Allow:
    """The admin's allow list: host names (exact, case-insensitive) and networks."""

    hosts: frozenset[str] = frozenset()
    networks: tuple[IPNetwork, ...] = ()

    @classmethod
    def parse(cls, text: str) -> Allow:
        hosts: set[str] = set()
        networks: list[IPNetwork] = []
        for item in text.replace(",", " ").split():
            try:
                networks.append(
                    ipaddress.ip_network(item.replace("[", "").replace("]", ""), strict=False)
                )
            except ValueError:
                hosts.add(item.lower().rstrip("."))
        return cls(frozenset(hosts), tuple(networks))

    def host(self, host: str) -> bool:
        return host.lower().rstrip(".") in self.hosts

    def address(self, address: IPAddress) -> bool:
        return any(address in net for net in self.networks if net.version == address.version)


def _embedded_v4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one carries (mapped, 6to4, Teredo, NAT64 well-known)."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    if address in ipaddress.ip_network("64:ff9b::/96"):
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def internal(address: IPAddress) -> bool:
    """True for an address that is not a public unicast one."""
    if isinstance(address, ipaddress.IPv6Address):
        inner = _embedded_v4(address)
        if inner is not None and internal(inner):
            return True
        if address.scope_id:
            return True
    return (
        address.is_loopback
        or address.is_private
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
        or (isinstance(address, ipaddress.IPv4Address) and address in SHARED)
        or not address.is_global
    )


def system_resolver(host: str, port: int) -> list[str]:
    """Every address the system resolver gives for ``host``."""
    infos = socket.getaddrinfo(host, port or None, type=socket.SOCK_STREAM)
    return sorted({str(info[4][0]) for info in infos})


def _literal(host: str) -> IPAddress | None:
    """The address written in the URL, in any form ``inet_aton`` accepts (``0x7f.1``,
    ``2130706433``): what ffmpeg's resolver would take it for."""
    try:
        return ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        pass
    if host and all(c in "0123456789abcdefxABCDEFX." for c in host):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return None
    return None


def check_url(
    url: str,
    *,
    allow: Allow | str = "",
    field: str = "url",
    schemes: Iterable[str] = PULL_SCHEMES,
    unresolved_ok: bool = False,
    resolve: Resolver | None = None,
) -> list[str]:
    """Refuse ``url`` (``Refused``, a 400 naming ``field``) unless it is safe to fetch.

    Returns the addresses the host resolved to (empty for an allowed host name or an
    unresolved one let through with ``unresolved_ok``).
    """
    allowed = Allow.parse(allow) if isinstance(allow, str) else allow
    schemes = frozenset(schemes)
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise Refused(f"not a valid address: {exc}", field=field) from None
    scheme = parts.scheme.lower()
    if scheme not in schemes or "://" not in url:
        raise Refused(
            f"the address must start with one of {', '.join(sorted(schemes))}://",
            field=field,
        )
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise Refused("the address has no host", field=field)
    if parts.username or parts.password:
        raise Refused("an address with a user name or password is not accepted", field=field)
    if allowed.host(host):
        return []
    literal = _literal(host)
    if literal is not None:
        addresses = [literal]
    else:
        if host.lower() == "localhost" or host.lower().endswith(".localhost"):
            raise Refused(f"{host} is this machine: not a public address", field=field)
        try:
            found = (resolve or system_resolver)(host, port or DEFAULT_PORTS.get(scheme, 0))
        except (OSError, UnicodeError):
            found = []
        if not found:
            if unresolved_ok:
                return []
            raise Refused(f"{host} does not resolve to an address", field=field)
        addresses = [ipaddress.ip_address(a.split("%", 1)[0]) for a in found]
    for address in addresses:
        if allowed.address(address):
            continue
        if internal(address):
            shown = host if str(address) == host else f"{host} ({address})"
            raise Refused(
                f"{shown} is not a public address: loopback, private, link-local, multicast "
                "and reserved networks are refused (an administrator may allow a host or "
                "network with SHAREHUB_PULL_ALLOW)",
                field=field,
            )
    return [str(a) for a in addresses]


PROTOCOLS = {
    "http": "http,tcp,crypto",
    "https": "https,tls,tcp,crypto",
    "rtmp": "rtmp,tcp",
    "rtmps": "rtmps,tls,tcp",
    "srt": "srt,udp",
    "udp": "udp",
    "tcp": "tcp",
}
"""The ffmpeg protocols a source of each scheme may use, and no more."""


def protocol_whitelist(url: str) -> str:
    """ffmpeg's ``-protocol_whitelist`` for a source: its own protocol and what carries it
    (HLS over HTTP fetches its segments over HTTP); a local path gets ``file``."""
    scheme = url.split("://", 1)[0].lower() if "://" in url else "file"
    return PROTOCOLS.get(scheme, scheme)
