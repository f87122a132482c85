"""The only aiohttp server code: the send contract, key-scoped routes, the admin API, docs.

What the rest of modemd may use: ``create_app`` and ``start_site`` (the wiring), ``api_config``
and ``ApiConfig`` (checked settings), ``start_listener`` (an IPN listener for demos and tests),
``contract`` (the status-code table) and ``keyspec`` (key settings the CLI checks the same way)."""

from modemd.api import contract, keyspec
from modemd.api.app import create_app, start_site
from modemd.api.auth import ApiConfig, api_config
from modemd.api.listener import start_listener

__all__ = [
    "ApiConfig",
    "api_config",
    "contract",
    "create_app",
    "keyspec",
    "start_listener",
    "start_site",
]
