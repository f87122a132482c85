"""Who is calling: the client's address (the socket's peer; X-Forwarded-For believed only from
configured trusted proxies), the API key and its rules, and the admin."""

from __future__ import annotations

import functools
import hmac
import ipaddress
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from aiohttp import web

from modemd.api.adminsocket import unix_peer
from modemd.api.contract import StatusCode
from modemd.api.keyspec import check_network
from modemd.api.ratelimit import FAILED_AUTH_PER_MINUTE, FailedAuthLimiter, RateLimiter
from modemd.api.validation import RequestError, ip_allowed, plain_address, read_apikey
from modemd.caps import CapsPolicy
from modemd.model import ApiKey
from modemd.store import keys as key_rows
from modemd.store.accept import DestinationLimits
from modemd.store.db import Store

log = logging.getLogger(__name__)

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True, slots=True)
class ApiConfig:
    """What the API needs beyond the store and the bank."""

    trusted_proxies: tuple[Network, ...] = ()  # peers whose X-Forwarded-For is believed
    admin_token: str | None = None  # admin API from anywhere with ``Bearer <token>``
    limiter: RateLimiter = field(default_factory=RateLimiter)
    failed_auth: FailedAuthLimiter = field(default_factory=FailedAuthLimiter)
    destination_limits: DestinationLimits | None = None  # the SMS-pumping guard ([limits])
    caps: CapsPolicy = field(
        default_factory=CapsPolicy
    )  # SIM and pool caps (shown), each key's (enforced)


def api_config(
    trusted_proxies: Iterable[str] = (),
    admin_token: str | None = None,
    destination_limits: DestinationLimits | None = None,
    failed_auth_per_minute: int = FAILED_AUTH_PER_MINUTE,
    caps: CapsPolicy | None = None,
) -> ApiConfig:
    """Checked config; a bad proxy entry raises ``ValueError`` naming it."""
    networks = tuple(ipaddress.ip_network(check_network(p)) for p in trusted_proxies)
    return ApiConfig(
        trusted_proxies=networks,
        admin_token=admin_token or None,
        destination_limits=destination_limits,
        failed_auth=FailedAuthLimiter(failed_auth_per_minute),
        caps=caps or CapsPolicy(),
    )


STORE: web.AppKey[Store] = web.AppKey("store", Store)
CONFIG: web.AppKey[ApiConfig] = web.AppKey("api_config", ApiConfig)
KEYS: web.AppKey[key_rows.KeyCache] = web.AppKey("key_cache", key_rows.KeyCache)
CALLER_KEY: web.RequestKey[ApiKey] = web.RequestKey("api_key", ApiKey)  # CORS reads it


class Headers(Protocol):
    """What the send route reads of a request's headers: aiohttp's ``CIMultiDictProxy``, or
    ``fastsend``'s ``SendHeaders``."""

    def get(self, name: str, /) -> str | None: ...

    def getall(self, name: str, default: list[str], /) -> list[str]: ...


class Caller(Protocol):
    """What the send route reads of a request: aiohttp's ``web.Request``, or the one that
    ``fastsend`` frames itself (the route's logic is the same; only the HTTP framing differs)."""

    @property
    def app(self) -> web.Application: ...

    @property
    def headers(self) -> Headers: ...

    @property
    def remote(self) -> str | None: ...

    @property
    def method(self) -> str: ...

    @property
    def path(self) -> str: ...

    def __setitem__(self, key: Any, value: Any) -> None: ...


class RateLimitedError(Exception):
    """The key is over its rate limit, or the caller's address over its failed authentications."""

    def __init__(self, why: str, retry_after_s: float) -> None:
        super().__init__(why)
        self.retry_after_s = retry_after_s


def _trusted(address: ipaddress.IPv4Address | ipaddress.IPv6Address, proxies: tuple) -> bool:
    return any(address.version == n.version and address in n for n in proxies)


def client_ip(peer: str, forwarded_for: list[str], proxies: tuple[Network, ...]) -> str:
    """The caller: the peer, or, when the peer is a trusted proxy, the nearest untrusted hop."""
    if not (proxies and forwarded_for):  # nobody to believe: the peer (every send asks)
        return _peer_text(peer)
    address = plain_address(peer)
    if address is None:
        return peer
    hops = [hop.strip() for value in forwarded_for for hop in value.split(",")]
    while _trusted(address, proxies) and hops:
        hop = hops.pop()
        nearer = plain_address(hop)
        if nearer is None:  # garbage from the client side: nobody to believe
            return hop[:64]
        address = nearer
    return str(address)


@functools.lru_cache(maxsize=1024)  # a few callers, each written out once
def _peer_text(peer: str) -> str:
    """``peer`` as ``client_ip`` writes an address (IPv6-mapped IPv4 as the IPv4), or as it is."""
    address = plain_address(peer)
    return peer if address is None else str(address)


def caller_ip(request: Caller) -> str:
    """``client_ip`` of this request."""
    proxies = request.app[CONFIG].trusted_proxies
    if not proxies:  # nobody's X-Forwarded-For is believed: the peer (every send asks)
        return _peer_text(request.remote or "")
    return client_ip(request.remote or "", request.headers.getall("X-Forwarded-For", []), proxies)


async def authenticate(request: Caller, fields: dict[str, object]) -> tuple[ApiKey, StatusCode]:
    """The key and the ok code (1 or 2), or ``RequestError`` 3/4, or ``RateLimitedError``."""
    config = request.app[CONFIG]
    address = caller_ip(request)
    throttled = config.failed_auth.wait_s(address)
    if throttled > 0:
        raise RateLimitedError(f"too many wrong keys from {address}", throttled)
    secret = read_apikey(fields, request.headers.get("Authorization"))
    keys = request.app[KEYS]
    key = keys.cached(secret)
    if key is None:
        key = await keys.look_up(secret)  # (not ``find``: the cache was asked)
    if key is None:
        config.failed_auth.failed(address)
        if config.failed_auth.wait_s(address) > 0:
            log.warning("failed authentications from %s: throttled", address)
        raise RequestError(StatusCode.API_KEY_ERROR, "unknown or revoked apikey")
    request[CALLER_KEY] = key
    wait = config.limiter.wait_s(key.key_id, key.rate_limit)
    if wait > 0:
        raise RateLimitedError(f"key {key.key_id} over {key.rate_limit}/min", wait)
    if key.over_ip:
        return key, StatusCode.OK_OVER_IP
    if ip_allowed(address, key.allow_ips):
        return key, StatusCode.OK_IP
    raise RequestError(StatusCode.UNAUTHORIZED_IP, f"IP {address} is not allowed for this apikey")


def admin_actor(request: web.Request) -> str | None:
    """Who is asking for the admin API: a peer of the admin Unix socket (the socket file's
    permissions let it connect; its credentials are read with SO_PEERCRED), or the bearer of
    the admin token; None for anyone else. Never because of the address it comes from."""
    peer = unix_peer(request)
    if peer is not None:
        return peer
    token = request.app[CONFIG].admin_token
    given = request.headers.get("Authorization", "")
    presented = given[7:].strip().encode(errors="replace")
    if (
        token
        and given.lower().startswith("bearer ")
        and hmac.compare_digest(presented, token.encode())
    ):
        return "admin token"
    return None
