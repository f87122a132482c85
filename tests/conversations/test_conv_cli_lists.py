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


def test_rules_and_surveys_from_the_command_line(tmp_path: Path) -> None:
    db = tmp_path / "m.db"
    code, out = run(db, "rules", "add", "--pin", "4711", "--kind", "regex", "--pattern", "(a+)+")
    assert code == 2  # --reply missing
    code, out = run(
        db, "rules", "add", "--pin", "4711", "--kind", "regex", "--pattern", "(a+)+", "--reply", "x"
    )
    assert code == 2 and "nests quantifiers" in out
    code, out = run(
        db,
        "rules",
        "add",
        "--pin",
        "4711",
        "--kind",
        "exact",
        "--pattern",
        "HOURS",
        "--reply",
        "9-18",
    )
    assert code == 0 and "rule 1 added" in out
    assert "HOURS" in run(db, "rules", "list", "--pin", "4711")[1]
    assert run(db, "rules", "remove", "--pin", "4711", "1")[0] == 0
    assert run(db, "rules", "remove", "--pin", "4711", "1")[0] == 1
    survey = tmp_path / "s.json"
    survey.write_text('{"name": "Taste", "questions": [{"type": "yes_no", "text": "Happy?"}]}')
    code, out = run(db, "surveys", "create", "--pin", "4711", str(survey))
    assert code == 0 and "survey 1 'Taste' created" in out
    survey.write_text('{"name": "Bad", "questions": [{"type": "essay", "text": "?"}]}')
    code, out = run(db, "surveys", "create", "--pin", "4711", str(survey))
    assert code == 1 and "question 1" in out
    assert "Taste" in run(db, "surveys", "list", "--pin", "4711")[1]
    code, out = run(db, "surveys", "results", "--pin", "4711", "taste", "--csv")
    assert out.splitlines() == ["number,state,started_at,ended_at,q1"]
    code, out = run(db, "surveys", "results", "--pin", "4711", "taste")
    assert "Q1 Happy? (0 answers) yes: 0, no: 0" in out


def test_transactional_keys_are_visible_in_keys_list(tmp_path: Path) -> None:
    db = tmp_path / "m.db"
    assert run(db, "keys", "create", "--pin", "4711", "--over-ip", "--transactional")[0] == 0
    assert run(db, "keys", "create", "--pin", "4711", "--over-ip")[0] == 0
    lines = run(db, "keys", "list")[1].splitlines()
    at = lines[0].index("TRANSACTIONAL")  # columns are padded: read at the header's offset
    assert [line[at:].split()[0] for line in lines[1:]] == ["True", "False"]


def test_opt_outs_imported_from_the_command_line(tmp_path: Path) -> None:
    db, csv = tmp_path / "m.db", tmp_path / "stop.csv"
    csv.write_text("phone\n+393331234567\n3339999999\n")
    code, out = run(db, "optouts", "import", "--pin", "4711", str(csv), "--note", "old system")
    assert code == 1 and "line 3" in out and "nothing imported" in out  # no country given
    code, out = run(db, "optouts", "import", "--pin", "4711", str(csv), "--country", "IT")
    assert code == 0 and "2 opted out, 0 already were" in out
    assert "import" in run(db, "optouts", "show", "--pin", "4711", "+393339999999")[1]
