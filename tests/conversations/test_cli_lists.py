"""``modemd lists`` and ``modemd optouts`` on a real database file."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from modemd.cli import main


def run(db: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, [*args, "--db", str(db)])
    return result.exit_code, result.output


def test_lists_from_the_command_line(tmp_path: Path) -> None:
    db = tmp_path / "m.db"
    assert run(db, "lists", "create", "--pin", "4711", "News")[0] == 0
    code, out = run(db, "lists", "create", "--pin", "4711", "news")
    assert code == 1 and "already has a list named" in out
    csv = tmp_path / "people.csv"
    csv.write_bytes("\ufeffTelefono;Name\n".encode())  # no number column: refused
    code, out = run(db, "lists", "import", "--pin", "4711", "news", str(csv))
    assert code == 1 and "nothing imported" in out
    csv.write_bytes("\ufeffphone;name;city\n3331234567;Anna;Roma\n+393339999999;Bo;Pisa\n".encode())
    code, out = run(db, "lists", "import", "--pin", "4711", "news", str(csv), "--country", "IT")
    assert code == 0 and "2 added" in out
    code, out = run(db, "lists", "add", "--pin", "4711", "NEWS", "+4915112345678", "--name", "Jo")
    assert code == 0 and "added" in out
    code, out = run(db, "lists", "members", "--pin", "4711", "news", "--csv")
    assert out.splitlines() == [
        "number,name,city",
        "+393331234567,Anna,Roma",
        "+393339999999,Bo,Pisa",
        "+4915112345678,Jo,",
    ]
    code, out = run(db, "lists", "list", "--pin", "4711")
    assert "News" in out and " 3 " in out
    code, out = run(db, "lists", "add", "--pin", "4711", "news", "4916")
    assert code == 2 and "country code" in out
    assert run(db, "lists", "rename", "--pin", "4711", "news", "Offers")[0] == 0
    assert run(db, "lists", "delete", "--pin", "4711", "offers")[0] == 0
    code, out = run(db, "lists", "delete", "--pin", "4711", "offers")
    assert code == 1 and "no list" in out


def test_optouts_from_the_command_line(tmp_path: Path) -> None:
    db = tmp_path / "m.db"
    code, out = run(db, "optouts", "add", "--pin", "4711", "+393331234567", "--note", "phone call")
    assert code == 0 and "opted out" in out
    code, out = run(db, "optouts", "add", "--pin", "4711", "+393331234567")
    assert "already" in out
    code, out = run(db, "optouts", "list", "--pin", "4711")
    assert "+393331234567" in out and "phone call" in out
    code, out = run(db, "optouts", "list", "--pin", "9999")
    assert "(none)" in out
    code, out = run(db, "optouts", "remove", "--pin", "4711", "333 123 4567", "--country", "IT")
    assert code == 0 and "opted in" in out
    code, out = run(db, "optouts", "show", "--pin", "4711", "+393331234567")
    assert out.count("cli") == 2
