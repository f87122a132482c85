"""Contact lists and opt-outs over the API: per pool, names case-insensitive, cursor pages,
CSV import whole or not at all, CSV export, opt-out history and its IPN rows."""

from __future__ import annotations

import json
from typing import Any

from api_harness import Api


async def call(api: Api, method: str, path: str, key: str = "italy", **kw: Any) -> tuple[int, Any]:
    """Call with the key of the harness named ``key`` (an unknown name: a wrong key)."""
    secret = api.keys.get(key, "mdk_not-a-key-at-all-000000")
    headers = {"Authorization": f"Bearer {secret}", **kw.pop("headers", {})}
    async with api.session.request(method, api.url + path, headers=headers, **kw) as r:
        if r.content_type == "text/csv":
            return r.status, await r.text()
        return r.status, await r.json()


async def test_lists_are_per_pool_and_names_case_insensitive(api: Api) -> None:
    status, made = await call(api, "POST", "/api/v1/lists", json={"name": "News"})
    assert status == 201 and made["list"]["name"] == "News" and made["list"]["keyword_join"]
    status, again = await call(api, "POST", "/api/v1/lists", json={"name": "NEWS"})
    assert status == 409 and again["response"] == "409"
    status, other = await call(api, "POST", "/api/v1/lists", "other_pin", json={"name": "news"})
    assert status == 201  # another pool, another namespace
    status, found = await call(api, "GET", "/api/v1/lists/news")
    assert status == 200 and found["list"]["list_id"] == made["list"]["list_id"]
    status, _ = await call(api, "GET", f"/api/v1/lists/{other['list']['list_id']}")
    assert status == 404  # the other pool's list is invisible
    status, renamed = await call(api, "PATCH", "/api/v1/lists/news", json={"name": "Offers"})
    assert status == 200 and renamed["list"]["name"] == "Offers"
    status, listed = await call(api, "GET", "/api/v1/lists")
    assert [row["name"] for row in listed["lists"]] == ["Offers"]
    status, gone = await call(api, "DELETE", "/api/v1/lists/offers")
    assert status == 200 and gone["deleted"]
    status, listed = await call(api, "GET", "/api/v1/lists")
    assert listed["lists"] == []


async def test_bad_list_input_is_refused_precisely(api: Api) -> None:
    for body in (
        {},
        {"name": ""},
        {"name": 7},
        {"name": "x" * 65},
        {"name": "a", "keyword_join": 1},
    ):
        status, answer = await call(api, "POST", "/api/v1/lists", json=body)
        assert status == 400 and answer["response"] == "400" and answer["message"], body
    status, answer = await call(api, "POST", "/api/v1/lists", data=b"[1]")
    assert status == 400
    status, answer = await call(api, "GET", "/api/v1/lists/news", key="nobody")
    assert status == 401 and answer["status_code"] == "3"


async def test_members_pages_with_a_cursor_and_csv_export(api: Api) -> None:
    await call(api, "POST", "/api/v1/lists", json={"name": "club"})
    members = [{"number": f"333 00000{i:02d}", "name": f"n{i}"} for i in range(7)]
    members[0]["fields"] = {"city": "Roma"}  # type: ignore[assignment]
    status, counts = await call(
        api, "POST", "/api/v1/lists/club/members", json={"members": members}
    )
    assert status == 200 and counts["added"] == 7  # national numbers read with the key's IT
    seen, cursor = [], None
    while True:
        query = {"limit": "3", **({"cursor": cursor} if cursor else {})}
        status, page = await call(api, "GET", "/api/v1/lists/club/members", params=query)
        assert status == 200 and len(page["members"]) <= 3
        seen += [m["number"] for m in page["members"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [f"+3933300000{i:02d}" for i in range(7)]
    status, text = await call(
        api, "GET", "/api/v1/lists/club/members", headers={"Accept": "text/csv"}
    )
    assert status == 200
    lines = text.splitlines()
    assert lines[0] == "number,name,city" and lines[1] == "+393330000000,n0,Roma"
    assert len(lines) == 8
    status, _ = await call(api, "DELETE", "/api/v1/lists/club/members/+393330000003")
    assert status == 200
    status, _ = await call(api, "DELETE", "/api/v1/lists/club/members/+393330000003")
    assert status == 404
    status, answer = await call(api, "GET", "/api/v1/lists/club/members", params={"cursor": "x"})
    assert status == 400 and "cursor" in answer["message"]


async def test_csv_import_is_whole_or_nothing(api: Api) -> None:
    await call(api, "POST", "/api/v1/lists", json={"name": "club"})
    before = await api.dump()
    bad = "\ufeffnumero;name\n".encode() + b"+393331111111;Anna\n"  # no number column
    status, answer = await call(api, "POST", "/api/v1/lists/club/import", data=bad)
    assert status == 400 and "no number column" in answer["message"]
    broken = b'phone;name\n+393331111111;Anna\n+393332222222;"Bo\n'
    status, answer = await call(api, "POST", "/api/v1/lists/club/import", data=broken)
    assert status == 400 and "line 3" in answer["message"]
    assert await api.dump() == before  # nothing half-imported
    good = "\ufeffphone;name;city\n+393331111111;Anna;Roma\n3332222222;Bo;Pisa\n".encode()
    status, answer = await call(api, "POST", "/api/v1/lists/club/import", data=good)
    assert status == 200 and answer["added"] == 2
    status, page = await call(api, "GET", "/api/v1/lists/club/members")
    assert [(m["number"], m["fields"]) for m in page["members"]] == [
        ("+393331111111", {"city": "Roma"}),
        ("+393332222222", {"city": "Pisa"}),
    ]
    assert {m["source"] for m in page["members"]} == {"import"}


async def test_opt_out_and_back_in_keeps_history_and_writes_events(api: Api) -> None:
    status, answer = await call(
        api, "POST", "/api/v1/optouts", json={"number": "+393331234567", "note": "asked by phone"}
    )
    assert status == 200 and answer["changed"]
    status, answer = await call(api, "POST", "/api/v1/optouts", json={"number": "3331234567"})
    assert status == 200 and not answer["changed"]  # already out: nothing new
    status, listed = await call(api, "GET", "/api/v1/optouts")
    assert [o["number"] for o in listed["optouts"]] == ["+393331234567"]
    assert listed["optouts"][0]["source"] == "api"
    status, answer = await call(api, "DELETE", "/api/v1/optouts/+393331234567")
    assert status == 200 and answer["changed"]
    status, state = await call(api, "GET", "/api/v1/optouts/+393331234567")
    assert not state["opted_out"]
    assert [c["opted_out"] for c in state["changes"]] == [True, False]
    assert state["changes"][0]["message"] == "asked by phone"
    status, listed = await call(api, "GET", "/api/v1/optouts")
    assert listed["optouts"] == []
    status, _ = await call(api, "POST", "/api/v1/optouts", json={"number": "abc"})
    assert status == 400
    status, _ = await call(api, "POST", "/api/v1/optouts", json={"number": "4916"})
    assert status == 400  # a short code is not a person


async def test_opt_out_events_go_to_keys_of_the_pool_with_an_ipn_url(api: Api) -> None:
    await api.store.write(
        lambda db: db.execute(
            "UPDATE api_keys SET ipn_url = 'http://127.0.0.1:9/ipn' WHERE key_id IN (?, ?)",
            [api.key_ids["local"], api.key_ids["other_pin"]],
        )
    )
    await call(api, "POST", "/api/v1/optouts", json={"number": "+393331234567"})
    await call(api, "DELETE", "/api/v1/optouts/+393331234567")
    rows = await api.store.read(
        lambda db: list(db.query("SELECT key_id, type, job_id, payload FROM events ORDER BY seq"))
    )
    assert [(r["key_id"], r["type"]) for r in rows] == [
        (api.key_ids["local"], "contact.opted_out"),
        (api.key_ids["local"], "contact.opted_in"),
    ]
    assert {r["job_id"] for r in rows} == {"contact:4711:+393331234567"}  # one ordered group
    data = json.loads(rows[0]["payload"])["data"]
    assert data == {
        "pin": "4711",
        "number": "+393331234567",
        "source": "api",
        "message": None,
        "device_id": None,
        "changed_at": data["changed_at"],
    }


async def test_a_csv_file_larger_than_an_api_body_imports(api: Api) -> None:
    await call(api, "POST", "/api/v1/lists", json={"name": "big"})
    rows = "".join(f"+3933310{i:05d},Person number {i},Somewhere far away\n" for i in range(3000))
    data = ("number,name,city\n" + rows).encode()
    assert len(data) > 64 * 1024  # the send API's body limit does not apply to files
    status, answer = await call(api, "POST", "/api/v1/lists/big/import", data=data)
    assert status == 200 and answer["added"] == 3000
    status, too_big = await call(
        api, "POST", "/api/v1/lists/big/import", data=b"number\n" + b"+393331234567\n" * 700_000
    )
    assert status == 400 and "over" in too_big["message"]


async def test_opt_outs_imported_from_a_file_whole_or_not_at_all(api: Api) -> None:
    await call(api, "POST", "/api/v1/optouts", json={"number": "+393331111111"})
    before = await api.dump()
    bad = b"number;note\n+393331111111;old\nnot-a-number;x\n"
    status, answer = await call(api, "POST", "/api/v1/optouts/import", data=bad)
    assert status == 400 and "line 3" in answer["message"]
    assert await api.dump() == before
    good = "\ufeffnumber;note\n+393331111111;old\n3332222222;from the old system\n".encode()
    status, answer = await call(api, "POST", "/api/v1/optouts/import", data=good)
    assert status == 200 and (answer["opted_out"], answer["already"]) == (1, 1)
    status, state = await call(api, "GET", "/api/v1/optouts/+393332222222")
    assert state["opted_out"] and state["changes"][0]["source"] == "import"


async def test_send_to_an_opted_out_number_is_refused_unless_transactional(api: Api) -> None:
    from modemd.store import keys

    await call(api, "POST", "/api/v1/optouts", json={"number": "+393331234567"})
    before = await api.dump()
    status, refused = await api.send(json=api.ok())  # to +39 333 1234567
    assert (status, refused["response"], refused["status_code"], refused["status"]) == (
        409,
        "409",
        "10",
        "opted_out",
    )
    assert await api.dump() == before  # nothing stored
    _, otp_key = await api.store.write(
        lambda db: keys.create_key(
            db, pin="4711", allow_ips=[], over_ip=True, ipn_url=None, transactional=True
        )
    )
    status, sent = await api.send(json={**api.ok(), "apikey": otp_key, "msg": "code 123456"})
    assert status == 200 and sent["status_code"] == "2"  # one-time passwords still reach it
    status, other = await api.send(json=api.ok(to="+393339999999"))
    assert status == 200 and other["to"] == "+393339999999"  # only that number is refused
    await call(api, "DELETE", "/api/v1/optouts/+393331234567")
    assert (await api.send(json=api.ok()))[0] == 200
