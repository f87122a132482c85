"""HTTPS without a proxy: ``[server] tls_cert``/``tls_key`` (a self-signed certificate made by
openssl); the console's cookies are then Secure; a wrong file is one ``Error:`` line."""

from __future__ import annotations

import asyncio
import os
import ssl
import subprocess
from pathlib import Path

import aiohttp
from e2e.daemon import MODEMD, running_daemon


def self_signed(tmp_path: Path) -> tuple[Path, Path]:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
            "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
            "-addext", "subjectAltName=IP:127.0.0.1",
            "-keyout", str(key), "-out", str(cert),
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


def config(tmp_path: Path, cert: Path, key: Path) -> Path:
    path = tmp_path / "modemd.toml"
    path.write_text(
        f'[server]\ndb = "{tmp_path / "modemd.db"}"\ntls_cert = "{cert}"\ntls_key = "{key}"\n'
        'admin_token = "tls-test-admin-token"\n'
    )
    return path


async def test_api_and_console_over_https(tmp_path: Path) -> None:
    cert, key = await asyncio.to_thread(self_signed, tmp_path)
    trusted = ssl.create_default_context(cafile=str(cert))
    args = ["--config", str(config(tmp_path, cert, key)), "--simulate", "1"]
    async with running_daemon(*args) as port, aiohttp.ClientSession() as session:
        base = f"https://127.0.0.1:{port}"
        async with session.get(base + "/healthz", ssl=trusted) as r:
            assert r.status == 200 and (await r.json())["status"] == "ok"
        async with session.get(base + "/console/login", ssl=trusted) as r:
            assert r.status == 200
            assert "Secure" in r.headers["Set-Cookie"]  # never sent back over plain HTTP
        try:  # plain HTTP on the TLS port gets no answer
            async with session.get(f"http://127.0.0.1:{port}/healthz") as r:
                assert r.status == 400
        except aiohttp.ClientError:
            pass
        try:  # and a client that does not trust the certificate refuses it
            async with session.get(base + "/healthz") as r:
                raise AssertionError(f"an untrusted certificate was accepted ({r.status})")
        except aiohttp.ClientConnectorCertificateError:
            pass


async def test_a_missing_key_is_one_error_line(tmp_path: Path) -> None:
    cert, _ = await asyncio.to_thread(self_signed, tmp_path)
    path = config(tmp_path, cert, tmp_path / "nope.pem")
    done = await asyncio.to_thread(
        subprocess.run,
        [*MODEMD, "serve", "--config", str(path), "--port", "0"],
        capture_output=True,
        text=True,
        env={**os.environ, "MODEMD_CONFIG": ""},
        timeout=60,
    )
    assert done.returncode == 1
    assert (
        done.stderr.strip().splitlines()[-1] == f"Error: TLS: {tmp_path / 'nope.pem'}: no such file"
    )
