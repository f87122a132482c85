"""Every sample of api/samples, as the CODE button serves it (pin filled in), sends a real SMS
through the live daemon, sends a CSV file as a campaign, and tells a genuine IPN from a forged
or stale one."""

from __future__ import annotations

import base64
import json
import os
import secrets
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import requests
from standardwebhooks.webhooks import Webhook

from api_docs.live import Daemon, Ipn
from api_docs.sample_build import require_toolchains, sample_command
from modemd.api import docs
from modemd.store.db import connect

RUN_TIMEOUT_S = 60.0
BULK_ROWS = 3  # a campaign per sample: the feature, not the throughput (bench/campaign.py)


def _prepare(daemon: Daemon, lang: str, folder: Path) -> list[str]:
    """Fetch the served sample into ``folder``, compile it if needed; return its command."""
    answer = requests.get(
        f"{daemon.url}/api/v1/samples/{lang}",
        headers={"Authorization": f"Bearer {daemon.keys['local']}"},
        timeout=10,
    )
    assert answer.status_code == 200, answer.text
    return sample_command(lang, answer.text, folder)


def _run(
    command: list[str], *args: str, env: dict[str, str], stdin: bytes = b""
) -> tuple[int, str]:
    done = subprocess.run(
        [*command, *args],
        input=stdin,
        capture_output=True,
        env={**os.environ, **env},
        timeout=RUN_TIMEOUT_S,
    )
    return done.returncode, (done.stdout + done.stderr).decode("utf-8", "replace")


def _verify(command: list[str], secret: str, ipn: Ipn, signature: str, when: int) -> bool:
    env = {
        "MODEMD_IPN_SECRET": secret,
        "WEBHOOK_ID": ipn.headers["webhook-id"],
        "WEBHOOK_TIMESTAMP": str(when),
        "WEBHOOK_SIGNATURE": signature,
    }
    code, out = _run(command, "verify", env=env, stdin=ipn.body)
    assert code in (0, 1), out
    assert out.strip().endswith("valid"), out
    return code == 0


def _sign(secret: str, ipn: Ipn, when: int) -> str:
    """The Standard Webhooks reference library's signature of ``ipn`` at ``when``."""
    at = datetime.fromtimestamp(when, UTC)
    return Webhook(secret).sign(ipn.headers["webhook-id"], at, ipn.body.decode())


def _check_sample(daemon: Daemon, lang: str, to: str, folder: Path) -> str:
    """Send through the sample, wait for its IPN, verify it with the sample, send a CSV file
    as a campaign; return a summary."""
    command = _prepare(daemon, lang, folder)
    _check_bulk(daemon, lang, command, to, folder)
    env = {"MODEMD_URL": daemon.url, "MODEMD_APIKEY": daemon.keys["local"]}
    code, out = _run(command, "send", to, f"hello from the {lang} sample", env=env)
    assert code == 0, f"{lang} send failed:\n{out}"
    answer = json.loads(out.strip().splitlines()[-1])
    assert answer["status_code"] == "1" and answer["job_id"]

    got = daemon.receiver.wait_for(lambda got: _delivered_to(to, got) is not None)
    ipn = _delivered_to(to, got)
    assert ipn is not None
    assert _event(ipn)["data"]["job_id"] == answer["job_id"]

    secret = "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()
    now = int(time.time())
    good = _sign(secret, ipn, now)
    assert _verify(command, secret, ipn, good, now), f"{lang}: a genuine IPN refused"
    rotated = f"v1,{base64.b64encode(b'x' * 32).decode()} {good}"  # two secrets during rotation
    assert _verify(command, secret, ipn, rotated, now), f"{lang}: rotation refused"
    forged = Ipn(ipn.headers, ipn.body.replace(b'"sms.delivered"', b'"sms.failed"'))
    assert not _verify(command, secret, forged, good, now), f"{lang}: a tampered body passed"
    other = "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()
    assert not _verify(command, other, ipn, good, now), f"{lang}: a wrong secret passed"
    stale = now - 600
    assert not _verify(command, secret, ipn, _sign(secret, ipn, stale), stale), lang
    real = daemon.ipn_secret or _endpoint_secret(daemon)
    if real and "webhook-signature" in ipn.headers:  # the daemon's own signature
        sent = int(ipn.headers["webhook-timestamp"])
        assert _verify(command, real, ipn, ipn.headers["webhook-signature"], sent), lang
        return f"{lang}: sent, verified the daemon's own signature"
    return f"{lang}: sent, verified a reference signature"


def _check_bulk(daemon: Daemon, lang: str, command: list[str], to: str, folder: Path) -> None:
    """``sample bulk FILE TEMPLATE``: the campaign is validated, started, and each row's
    number gets exactly one job, delivered, with the row's name in its text."""
    numbers = [f"{to[:-4]}9{to[-1]}{row:02d}" for row in range(BULK_ROWS)]  # +39347000 9 n rr
    csv_file = folder / "clients.csv"
    csv_file.write_text("to,name\n" + "".join(f"{n},N{i}\n" for i, n in enumerate(numbers)))
    env = {"MODEMD_URL": daemon.url, "MODEMD_APIKEY": daemon.keys["local"]}
    code, out = _run(command, "bulk", str(csv_file), "Hello {name}", env=env)
    assert code == 0, f"{lang} bulk failed:\n{out}"
    answers = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    assert answers[0]["campaign"]["report"]["valid"] == BULK_ROWS, out
    assert answers[-1]["campaign"]["state"] == "running", out
    daemon.receiver.wait_for(lambda got: all(_delivered_to(n, got) for n in numbers), 60)
    db = connect(daemon.db)
    try:
        marks = ",".join("?" * len(numbers))
        jobs = db.execute(
            f"SELECT to_number, message FROM jobs WHERE to_number IN ({marks}) ORDER BY to_number",
            numbers,
        ).fetchall()
    finally:
        db.close()
    assert [tuple(job) for job in jobs] == [(n, f"Hello N{i}") for i, n in enumerate(numbers)]


def _endpoint_secret(daemon: Daemon) -> str | None:
    """The local key's signing secret as the daemon stored it (until `keys create` shows it)."""
    try:
        from modemd.store.endpoints import get_endpoint
    except ImportError:
        return None
    db = connect(daemon.db)
    try:
        key_id = db.execute("SELECT key_id FROM api_keys ORDER BY key_id LIMIT 1").fetchone()[0]
        return get_endpoint(db, key_id).secret
    finally:
        db.close()


def _delivered_to(to: str, got: list[Ipn]) -> Ipn | None:
    for ipn in got:
        event = _event(ipn)
        if event["type"] == "sms.delivered" and event["data"]["to"] == to:
            return ipn
    return None


def _event(ipn: Ipn) -> dict[str, Any]:
    event: dict[str, Any] = json.loads(ipn.body)
    return event


def test_every_sample_sends_and_verifies(daemon: Daemon, tmp_path: Path) -> None:
    require_toolchains()
    langs = list(docs.SAMPLE_FILES)
    numbers = {lang: f"+3934700{n:05d}" for n, lang in enumerate(langs)}
    with ThreadPoolExecutor(max_workers=len(langs)) as pool:
        check = [pool.submit(_check_sample, daemon, x, numbers[x], tmp_path / x) for x in langs]
        results = [future.result() for future in check]
    assert len(results) == len(langs)
    print("\n".join(results))
