"""HTTPS without a reverse proxy: ``[server] tls_cert`` / ``tls_key`` become the listening
socket's SSL context (TLS 1.2 or newer; Python's default ciphers)."""

from __future__ import annotations

import ssl
from pathlib import Path

from modemd.errors import ConfigError

__all__ = ["server_context"]


def server_context(cert: str | None, key: str | None) -> ssl.SSLContext | None:
    """The context serving ``cert`` with ``key``; None when neither is set."""
    if not cert and not key:
        return None
    if not cert or not key:
        raise ConfigError("server.tls_cert and server.tls_key go together: set both or neither")
    for path in (cert, key):
        try:
            Path(path).open("rb").close()
        except FileNotFoundError as exc:
            raise ConfigError(f"TLS: {path}: no such file") from exc
        except OSError as exc:
            raise ConfigError(f"TLS: {path}: cannot read it ({exc.strerror})") from exc
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(cert, key)
    except (ssl.SSLError, OSError) as exc:
        raise ConfigError(
            f"TLS: {cert} / {key}: not a PEM certificate and its key ({exc})"
        ) from exc
    return context
