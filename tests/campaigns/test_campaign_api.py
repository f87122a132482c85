"""Campaigns through the API on emulated modems: the validation report counts exactly, each
valid number goes out once, API sends overtake the campaign, pause stops it, resume ends it."""

from __future__ import annotations

import asyncio
import io
import json
from collections import Counter
from typing import Any

import aiohttp
import openpyxl
from builders import dump

from modemd.model import Member
from modemd.store import contacts, events, jobs, optouts, wallet

from .conftest import MODEMS, PIN, Rig

ROWS = 1000
INVALID = 7
DUPLICATES = 5


def numbers(count: int, start: int = 0) -> list[str]:
    return [f"+39333{n:07d}" for n in range(start, start + count)]


def campaign_csv(separator: str = ",") -> tuple[str, list[str], list[dict[str, Any]]]:
    """ROWS data rows: INVALID bad ones, DUPLICATES repeats (one spelled differently)."""
    good = numbers(ROWS - INVALID - DUPLICATES)
    lines = [separator.join(["name", "phone", "city"])]
    lines += [separator.join([f"N{i}", n, "Roma"]) for i, n in enumerate(good)]
    bad = [
        ("Bad1", "+39abc", "Roma"),  # letters
        ("Bad2", "", "Roma"),  # no number
        ("Bad3", "+1234567890123456", "Roma"),  # 16 digits
        ("", good[0][:-1] + "9", "Roma"),  # no value for {name}
        ("Bad5", "++39333", "Roma"),
        ("Bad6", "12", "Roma"),  # too short
        ("Bad7", "+39 333-abc", "Roma"),
    ]
    lines += [separator.join(row) for row in bad]
    dups = [good[1], good[2], good[3], good[4].replace("+39333", "+39 333 "), good[5]]
    lines += [separator.join([f"D{i}", n, "Roma"]) for i, n in enumerate(dups)]
    expected_invalid = [
        {"row": len(good) + 2 + i, "column": col}
        for i, col in enumerate(["phone", "phone", "phone", "name", "phone", "phone", "phone"])
    ]
    return "\n".join(lines) + "\n", good, expected_invalid


def form(content: bytes | str, **fields: str) -> aiohttp.FormData:
    data = aiohttp.FormData()
    for name, value in fields.items():
        data.add_field(name, value)
    data.add_field("file", content, filename="list.csv", content_type="text/csv")
    return data


async def test_report_counts_then_each_valid_number_goes_out_once(rig: Rig) -> None:
    text, good, expected_invalid = campaign_csv()
    status, answer = await rig.post(
        "/api/v1/campaigns", data=form(text, template="Hello {name} from {city}")
    )
    assert status == 200, answer
    campaign = answer["campaign"]
    report = campaign["report"]
    assert report["valid"] == ROWS - INVALID - DUPLICATES
    assert report["duplicates"] == DUPLICATES
    assert report["invalid_count"] == INVALID
    assert [{k: i[k] for k in ("row", "column")} for i in report["invalid"]] == expected_invalid
    assert report["invalid"][3]["reason"] == "no value for {name}"
    assert report["parts"] == {"gsm7": len(good)} and report["devices"] == MODEMS
    assert report["estimated_time_s"] > 0 and report["estimated_cost"] is None
    assert campaign["state"] == "draft" and rig.sent_numbers() == []

    status, started = await rig.post(f"/api/v1/campaigns/{campaign['campaign_id']}/start")
    assert status == 200 and started["campaign"]["state"] == "running"
    done = await rig.campaign_until(campaign["campaign_id"], "done")
    assert done["counts"]["delivered"] + done["counts"]["sent"] == len(good)
    assert Counter(rig.sent_numbers()) == Counter(good)  # each valid number exactly once
    sent = await rig.store.read(jobs.list_jobs, limit=5)
    assert sent[0]["to"] in good


async def test_an_api_send_overtakes_the_queued_campaign_jobs(rig: Rig) -> None:
    good = numbers(300)
    status, answer = await rig.post(
        "/api/v1/campaigns", json={"template": "Hi", "recipients": good}
    )
    assert status == 200, answer
    campaign_id = answer["campaign"]["campaign_id"]
    await rig.post(f"/api/v1/campaigns/{campaign_id}/start")
    async with asyncio.timeout(30):
        while len(rig.sent_numbers()) < 40:  # the campaign is well under way
            await asyncio.sleep(0.01)
    otp = "+447700900123"
    async with rig.session.post(
        rig.url + "/api/v1/send", json={"apikey": rig.apikey, "to": otp, "msg": "code 1234"}
    ) as r:
        accepted = await r.json()
    assert accepted["status_code"] == "2"
    queued = await rig.store.read(
        lambda db: {
            r[0]
            for r in db.execute(
                "SELECT to_number FROM jobs WHERE campaign_id = ? AND state = 'queued'",
                [campaign_id],
            )
        }
    )
    assert len(queued) > 100  # most of the campaign was still waiting
    await rig.campaign_until(campaign_id, "done")
    order = rig.sent_numbers()
    ahead = [n for n in order[: order.index(otp)] if n in queued]
    # Only jobs already in a device's hands when the send arrived (one per device at most)
    # may go out before it: every other queued campaign job goes after.
    assert len(ahead) < MODEMS, ahead


async def test_pause_stops_the_campaign_and_resume_finishes_it(rig: Rig) -> None:
    good = numbers(200, 5000)
    _, answer = await rig.post("/api/v1/campaigns", json={"template": "Hi", "recipients": good})
    campaign_id = answer["campaign"]["campaign_id"]
    await rig.post(f"/api/v1/campaigns/{campaign_id}/start")
    async with asyncio.timeout(30):
        while len(rig.sent_numbers()) < 20:
            await asyncio.sleep(0.01)
    status, paused = await rig.post(f"/api/v1/campaigns/{campaign_id}/pause")
    assert status == 200 and paused["campaign"]["state"] == "paused"
    # What was in flight finishes; then nothing of the campaign starts.
    async with asyncio.timeout(30):
        while await rig.store.read(
            lambda db: db.execute(
                "SELECT count(*) FROM jobs WHERE campaign_id = ? AND state = 'sending'",
                [campaign_id],
            ).fetchone()[0]
        ):
            await asyncio.sleep(0.02)
    after_pause = len(rig.sent_numbers())
    await asyncio.sleep(0.5)  # many send times of 0.02 s: a leak would show
    assert len(rig.sent_numbers()) == after_pause < len(good)
    status, _ = await rig.post(f"/api/v1/campaigns/{campaign_id}/resume")
    assert status == 200
    done = await rig.campaign_until(campaign_id, "done")
    assert Counter(rig.sent_numbers()) == Counter(good)
    assert done["counts"]["queued"] == 0
    status, refused = await rig.post(f"/api/v1/campaigns/{campaign_id}/cancel")
    assert status == 409 and "is done: it cannot become cancelled" in refused["message"]
    types = await rig.store.read(
        lambda db: [
            r[0] for r in db.execute("SELECT type FROM events WHERE job_id = ?", [campaign_id])
        ]
    )
    assert types[-1] == "campaign.done"
    assert events  # the module is the outbox the campaign events go to


async def test_cancel_ends_queued_jobs_cancelled_and_they_never_leave(rig: Rig) -> None:
    good = numbers(300, 9000)
    _, answer = await rig.post("/api/v1/campaigns", json={"template": "Hi", "recipients": good})
    campaign_id = answer["campaign"]["campaign_id"]
    await rig.post(f"/api/v1/campaigns/{campaign_id}/start")
    async with asyncio.timeout(30):
        while len(rig.sent_numbers()) < 10:
            await asyncio.sleep(0.01)
    status, cancelled = await rig.post(f"/api/v1/campaigns/{campaign_id}/cancel")
    assert status == 200 and cancelled["campaign"]["state"] == "cancelled"
    counts = cancelled["campaign"]["counts"]
    assert counts["cancelled"] > 0 and counts["queued"] == 0
    async with asyncio.timeout(30):
        while (await rig.get(f"/api/v1/campaigns/{campaign_id}"))[1]["campaign"]["counts"][
            "sending"
        ]:
            await asyncio.sleep(0.02)
    await asyncio.sleep(0.3)
    final = (await rig.get(f"/api/v1/campaigns/{campaign_id}"))[1]["campaign"]["counts"]
    assert len(rig.sent_numbers()) == len(good) - final["cancelled"]


async def test_xlsx_and_encodings_and_separators(rig: Rig) -> None:
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["Phone", "Name"])
    sheet.append([393331112222, "Zoé"])
    sheet.append(["+39 333 111 3333", "Ann"])
    buffer = io.BytesIO()
    book.save(buffer)
    cases = [
        (buffer.getvalue(), "xlsx", None, None),
        ("to;name\n+393331112222;Zoé\n".encode("utf-8-sig"), "csv", "utf-8-sig", ";"),
        ("to\tname\n+393331112222\tZoé\n".encode("utf-16"), "csv", "utf-16", "\t"),
        ("to,name\n+393331112222,Zoé\n".encode("latin-1"), "csv", "latin-1", ","),
    ]
    for content, fmt, encoding, separator in cases:
        status, answer = await rig.post(
            "/api/v1/campaigns?dry_run=1", data=form(content, template="Ciao {name}")
        )
        assert status == 200, answer
        report = answer["campaign"]["report"]
        assert (report["format"], report["encoding"], report["separator"]) == (
            fmt,
            encoding,
            separator,
        )
        assert report["messages"] == {"gsm7": report["valid"]} and report["valid"] >= 1
    assert (
        await rig.store.read(lambda db: db.execute("SELECT count(*) FROM campaigns").fetchone()[0])
        == 0
    )


async def test_bad_uploads_get_precise_errors_and_create_nothing(rig: Rig) -> None:
    before = await rig.store.read(dump)
    cases = [
        (form(b"\x89PNG\r\n\x1a\n\x00\x00\x00", template="x"), 400, "not CSV or XLSX"),
        (form(b"\xd0\xcf\x11\xe0rest", template="x"), 400, ".xls"),
        (
            form("to,name\n+393331112222,A\n", template="Hi {surname}"),
            400,
            "{surname} has no column",
        ),
        (form("name\nA\n", template="Hi"), 400, "no number column"),
        (form("to\n+39abc\n12\n", template="Hi"), 400, "no valid rows"),
        (form("to\n+393331112222\n"), 400, "missing 'template'"),
        (form("to\n+393331112222\n", template="Hi {"), 400, "not a placeholder"),
        (
            form("to\n+393331112222\n", template="Hi", send_at="2020-01-01T00:00:00Z"),
            400,
            "in the past",
        ),
    ]
    boundary = "b0undary"
    bad_header = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="\xc3\x86\x1a"\r\n\r\nx\r\n'
        f"--{boundary}--\r\n"
    ).encode("latin-1")
    status, answer = await rig.post(
        "/api/v1/campaigns",
        data=bad_header,
        headers={**rig.auth, "Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    assert status == 400 and "malformed multipart body" in answer["message"]
    for data, http, says in cases:
        status, answer = await rig.post("/api/v1/campaigns", data=data)
        assert (status, says in answer["message"]) == (http, True), answer
    no_rows = await rig.post("/api/v1/campaigns", data=form("to\n+39abc\n", template="Hi"))
    assert no_rows[1]["report"]["invalid"] == [
        {"row": 2, "column": "to", "reason": "is not a phone number: '+39abc'"}
    ]
    assert await rig.store.read(dump) == before


async def test_credit_is_reserved_per_job_and_a_campaign_out_of_credit_pauses(rig: Rig) -> None:
    await rig.store.write(wallet.set_price, "*", 1000)  # 0.1 per part
    await rig.store.write(wallet.topup, rig.key_id, 25_000)  # 2.5: 25 messages
    good = numbers(40, 20000)
    status, answer = await rig.post(
        "/api/v1/campaigns", json={"template": "Hi", "recipients": good}
    )
    assert status == 200 and answer["campaign"]["report"]["estimated_cost"] == "4.0000"
    campaign_id = answer["campaign"]["campaign_id"]
    await rig.post(f"/api/v1/campaigns/{campaign_id}/start")
    paused = await rig.campaign_until(campaign_id, "paused")
    assert paused["reason"].startswith("out of credit: credit 0.0000 < cost 0.1000")
    # 25 jobs were queued with their credit reserved; paused, none of them starts.
    assert (paused["counts"]["queued"], paused["counts"]["not_queued"]) == (25, 15)
    balance = await rig.store.read(wallet.balance, rig.key_id)
    assert (balance.available, balance.reserved) == (0, 25_000)
    assert rig.sent_numbers() == []
    await rig.store.write(wallet.topup, rig.key_id, 15_000)
    status, _ = await rig.post(f"/api/v1/campaigns/{campaign_id}/resume")
    assert status == 200
    await rig.campaign_until(campaign_id, "done")
    assert Counter(rig.sent_numbers()) == Counter(good)
    assert (await rig.store.read(wallet.balance, rig.key_id)).spent == 40_000


async def test_opted_out_numbers_are_skipped_at_validation_and_when_queued(rig: Rig) -> None:
    good = numbers(30, 30000)
    await rig.store.write(optouts.set_opt_out, PIN, good[0], True, source="api")
    status, answer = await rig.post(
        "/api/v1/campaigns", json={"template": "Hi", "recipients": good}
    )
    assert status == 200
    report = answer["campaign"]["report"]
    assert (report["valid"], report["opted_out"]) == (29, 1)
    campaign_id = answer["campaign"]["campaign_id"]
    # Texted STOP after the validation, before the start: skipped when queued.
    await rig.store.write(optouts.set_opt_out, PIN, good[1], True, source="keyword")
    await rig.post(f"/api/v1/campaigns/{campaign_id}/start")
    done = await rig.campaign_until(campaign_id, "done")
    assert done["counts"]["opted_out"] == 1 and done["counts"]["not_queued"] == 0
    assert Counter(rig.sent_numbers()) == Counter(good[2:])


async def test_a_contact_list_as_the_recipients(rig: Rig) -> None:
    await rig.store.write(contacts.create_list, PIN, "Clients")
    members = [Member("+393331110001", "Anna", {"city": "Roma"}), Member("+393331110002", "Bo")]
    await rig.store.write(contacts.add_members, PIN, "clients", members, "api")
    status, answer = await rig.post(
        "/api/v1/campaigns?dry_run=1", json={"template": "Ciao {name} da {city}", "list": "clients"}
    )
    assert status == 200
    report = answer["campaign"]["report"]
    assert report["valid"] == 1 and report["invalid"] == [
        {"row": 2, "column": "city", "reason": "no value for {city}"}
    ]
    status, answer = await rig.post("/api/v1/campaigns", json={"template": "x", "list": "nope"})
    assert status == 400 and "no contact list 'nope'" in answer["message"]
    status, answer = await rig.post("/api/v1/campaigns", json={"template": "x", "list": "\ud956x"})
    assert status == 400 and "'list' is not valid Unicode" in answer["message"]  # was a 500


async def test_the_event_stream_shows_progress_then_done(rig: Rig) -> None:
    good = numbers(60, 40000)
    _, answer = await rig.post("/api/v1/campaigns", json={"template": "Hi", "recipients": good})
    campaign_id = answer["campaign"]["campaign_id"]
    await rig.post(f"/api/v1/campaigns/{campaign_id}/start")
    events_seen: list[tuple[str, dict[str, Any]]] = []
    async with rig.session.get(
        f"{rig.url}/api/v1/campaigns/{campaign_id}/events", headers=rig.auth
    ) as r:
        assert r.status == 200 and r.headers["Content-Type"].startswith("text/event-stream")
        kind = ""
        async for raw in r.content:
            line = raw.decode().rstrip("\n")
            if line.startswith("event: "):
                kind = line[7:]
            elif line.startswith("data: "):
                events_seen.append((kind, json.loads(line[6:])))
    assert [k for k, _ in events_seen][-1] == "done"
    assert all(k == "progress" for k, _ in events_seen[:-1])
    left = [sum(c["counts"][s] for s in ("sent", "delivered")) for _, c in events_seen]
    assert left == sorted(left) and left[-1] == len(good)
