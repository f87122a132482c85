"""Where the IPN sender may connect: checked on the resolved address at connect time (so a name
that resolves, or re-resolves, to a forbidden address is refused too: DNS rebinding).

Never: this daemon's own listening address and port (an IPN URL pointing at our admin API was a
request forgery), link-local addresses (169.254/16, fe80::/10: cloud metadata services live
there) and the other metadata addresses, unspecified, multicast and broadcast addresses.
Allowed unless the operator denies them: loopback and private ranges, because installers post
IPNs to their own LAN (refusing LAN addresses is the top complaint about the Android gateway
app)."""

from __future__ import annotations

import errno
import ipaddress
import logging
import socket
from collections.abc import Iterable
from dataclasses import dataclass, field

from aiohappyeyeballs import AddrInfoType

log = logging.getLogger(__name__)

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
NEVER = tuple(
    ipaddress.ip_network(n)
    for n in (
        "0.0.0.0/8",  # "this network": connecting to it reaches the host itself
        "169.254.0.0/16",  # IPv4 link-local: AWS/GCP/Azure metadata at 169.254.169.254
        "100.100.100.200/32",  # Alibaba Cloud metadata
        "224.0.0.0/4",  # multicast
        "255.255.255.255/32",
        "::/128",
        "fe80::/10",  # IPv6 link-local
        "fd00:ec2::254/128",  # AWS metadata over IPv6
        "ff00::/8",  # multicast
    )
)


class EgressRefusedError(OSError):
    """The policy forbids this destination; nothing was sent."""


def _plain(text: str) -> Address:
    address = ipaddress.ip_address(text.split("%", 1)[0])
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


@dataclass(frozen=True, slots=True)
class EgressPolicy:
    deny_loopback: bool = False  # [ipn] deny_loopback
    deny_private: bool = False  # [ipn] deny_private: 10/8, 172.16/12, 192.168/16, fc00::/7 ...
    own: frozenset[tuple[str, int]] = field(default_factory=frozenset)  # (address, port) we serve

    def refusal(self, host: str, port: int) -> str | None:
        """Why a connection to ``host:port`` is not allowed, or None."""
        address = _plain(host)
        if any(address.version == n.version and address in n for n in NEVER):
            return f"{address} is link-local, metadata, multicast or unspecified"
        if (str(address), port) in self.own or (
            address.is_loopback and any(p == port and a == "loopback" for a, p in self.own)
        ):
            return f"{address}:{port} is this daemon's own API"
        if address.is_loopback and self.deny_loopback:
            return f"{address} is loopback ([ipn] deny_loopback)"
        if address.is_private and not address.is_loopback and self.deny_private:
            return f"{address} is a private address ([ipn] deny_private)"
        return None

    def socket_factory(self, addr_info: AddrInfoType) -> socket.socket:
        """aiohttp's connect hook: the resolved address is checked before the socket exists."""
        family, type_, proto, _, sockaddr = addr_info
        why = self.refusal(str(sockaddr[0]), int(sockaddr[1]))
        if why is not None:
            # (errno, text): aiohttp's ClientConnectorError shows the text as the reason
            raise EgressRefusedError(errno.EACCES, f"egress policy: {why}")
        return socket.socket(family, type_, proto)


def own_addresses(host: str, port: int) -> frozenset[tuple[str, int]]:
    """The (address, port) pairs the API listens on: its host, or for a wildcard host every
    address of this machine (as far as its name resolves) and loopback."""
    pairs: set[tuple[str, int]] = {("loopback", port)}
    try:
        if _plain(host).is_unspecified:
            pairs.update((a, port) for a in _local_addresses())
        else:
            pairs.add((str(_plain(host)), port))
    except ValueError:  # a host name: what it resolves to
        pairs.update((a, port) for a in _resolve(host))
    return frozenset(pairs)


def _local_addresses() -> Iterable[str]:
    return _resolve(socket.gethostname())


def _resolve(name: str) -> set[str]:
    try:
        infos = socket.getaddrinfo(name, None)
    except OSError:
        return set()
    return {str(_plain(str(info[4][0]))) for info in infos}
