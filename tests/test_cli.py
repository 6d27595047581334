"""The ``lianhu`` CLI, in-process (``main([...])``) on a fresh SQLite database in a temporary folder."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from bot.cli import main
from runtime.ledger import COLUMNS, headers
from workflows.ports import FakeClock

SECRETS = ("LIANHU_BOT_TOKEN", "LIANHU_DATABASE_URL", "LIANHU_DB_PASSWORD", "LIANHU_CONFIG")


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A clean working folder: no config.toml, no env secrets; the database goes to ./data."""
    monkeypatch.chdir(tmp_path)
    for name in SECRETS:
        monkeypatch.delenv(name, raising=False)
    return tmp_path


def run(capsys: pytest.CaptureFixture[str], *argv: str, clock: FakeClock | None = None) -> tuple[int, str, str]:
    code = main(list(argv), clock=clock)
    out, err = capsys.readouterr()
    return code, out, err


def _head() -> str:
    from alembic.config import Config as AlembicConfig
    from alembic.script import ScriptDirectory

    from storage.db import MIGRATIONS_DIR

    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    return str(ScriptDirectory.from_config(cfg).get_current_head())


def test_migrate_creates_the_database_in_the_data_folder(home: Path, capsys) -> None:
    code, out, _ = run(capsys, "migrate")
    assert code == 0 and f"schema revision {_head()}" in out
    assert (home / "data" / "lianhu.sqlite3").is_file()
    assert run(capsys, "migrate")[0] == 0  # idempotent


def test_import_sample_then_export(home: Path, capsys) -> None:
    code, out, _ = run(capsys, "import-org")
    assert code == 0
    assert "units: 15 created" in out and "people: 34 created" in out and "households: 104 created" in out
    code, out, _ = run(capsys, "import-org")
    assert code == 0 and "15 unchanged" in out
    code, out, _ = run(capsys, "export-org", str(home / "export"))
    assert code == 0 and "people.csv (34 rows)" in out
    rows = list(csv.DictReader((home / "export" / "people.csv").open(encoding="utf-8-sig")))
    assert {r["code"]: r["role"] for r in rows}["P002"] == "county_commander"


def test_import_bad_folder_lists_problems_and_exits_2(home: Path, capsys) -> None:
    folder = home / "org"
    folder.mkdir()
    (folder / "units.csv").write_text("code,name,name_bo,level,parent_code,default_language\nT1,乡,,township,C9,zh\n",
                                      encoding="utf-8")
    code, out, err = run(capsys, "import-org", str(folder))
    assert code == 2 and out == ""
    assert "units.csv:2: parent_code: unknown unit 'C9'" in err and "Traceback" not in err


def test_bad_config_is_one_line_naming_the_key(home: Path, capsys) -> None:
    (home / "config.toml").write_text('[policy.urgent]\nack_within = "30x"\n', encoding="utf-8")
    code, out, err = run(capsys, "migrate")
    assert code == 2 and out == ""
    assert err.strip() == "lianhu: error: policy.urgent.ack_within: '30x' is not a duration like 30m, 24h or 7d"


def test_missing_config_file_and_unknown_command(home: Path, capsys) -> None:
    code, _, err = run(capsys, "--config", "nope.toml", "migrate")
    assert code == 2 and "nope.toml" in err and "does not exist" in err
    code, _, err = run(capsys, "frobnicate")
    assert code == 2 and "invalid choice" in err


def test_unreachable_database_is_a_clear_error(home: Path, capsys, monkeypatch) -> None:
    monkeypatch.setenv("LIANHU_DATABASE_URL", "postgresql+psycopg://nobody@127.0.0.1:1/nothing")
    code, _, err = run(capsys, "migrate")
    assert code == 2 and err.startswith("lianhu: error: database:") and "Traceback" not in err


def test_unknown_person_code(home: Path, capsys) -> None:
    run(capsys, "import-org")
    code, _, err = run(capsys, "invite", "P999")
    assert code == 2 and "no person with code 'P999'" in err


def test_empty_ledger_has_the_header(home: Path, capsys) -> None:
    code, out, _ = run(capsys, "ledger")
    assert code == 0
    assert out.splitlines() == [",".join(headers("zh"))]  # Chinese headers: the ledger offices file
    assert COLUMNS[:2] == ("case_id", "created_at") and "resolution_note" in COLUMNS
    code, out, _ = run(capsys, "ledger", "--lang", "en")
    assert code == 0 and out.splitlines() == [",".join(headers("en"))] and out.startswith("Case no.,")
    code, out, _ = run(capsys, "ledger", "--format", "json")
    assert code == 0 and json.loads(out) == []
    code, _, err = run(capsys, "ledger", "--unit", "NOPE")
    assert code == 2 and "no unit with code 'NOPE'" in err


def test_state_chart(home: Path, capsys) -> None:
    code, out, _ = run(capsys, "state-chart", "--out", str(home / "chart.md"))
    assert code == 0
    text = (home / "chart.md").read_text(encoding="utf-8")
    assert "stateDiagram" in text and "resolved" in text


# ---------------------------------------------------------------------------------------------- the engine


FIRE = "多卡村扎西家的帐篷着火了 快来人"


def test_report_cases_show_and_ledger(home: Path, capsys) -> None:
    clock = FakeClock()
    assert run(capsys, "import-org", clock=clock)[0] == 0
    code, out, err = run(capsys, "report", "--from", "P1111", FIRE, clock=clock)
    assert code == 0, err
    assert out.startswith("case #1: ") and "urgent" in out and "owner: 王建国" in out  # V0101's grid leader

    code, out, _ = run(capsys, "cases", clock=clock)
    assert code == 0 and out.startswith("#1 ") and "王建国" in out
    code, out, _ = run(capsys, "cases", "--person", "P110", clock=clock)  # the owner's own list
    assert code == 0 and out.startswith("#1 ")
    code, out, _ = run(capsys, "cases", "--person", "P2111", clock=clock)  # a worker in the other township
    assert code == 0 and "no open cases" in out

    code, out, _ = run(capsys, "show", "1", clock=clock)
    assert code == 0
    assert out.startswith("Case #1  [urgent]") and "尕玛示范县" in out and FIRE in out
    assert "Timeline:" in out and "扎西" in out
    code, _, err = run(capsys, "show", "99", clock=clock)
    assert code == 2 and "99" in err

    code, out, _ = run(capsys, "ledger", "--out", str(home / "ledger.csv"), clock=clock)
    assert code == 0 and "wrote 1 case(s)" in out
    grid = list(csv.reader((home / "ledger.csv").open(encoding="utf-8-sig", newline="")))
    assert grid[0] == headers("zh") and len(grid) == 2
    row = dict(zip(COLUMNS, grid[1], strict=True))
    assert (row["case_id"], row["reporter_code"], row["urgency"], row["state"], row["owner"]) == (
        "1", "P1111", "紧急", "待受理", "王建国")  # words, in Chinese, as offices file them
    assert row["created_at"] == "2026-01-05 16:00+08:00"  # FakeClock starts 08:00 UTC; shown in Beijing time
    assert row["overdue"] == "否"

    from openpyxl import load_workbook

    code, out, _ = run(capsys, "ledger", "--out", str(home / "台账.xlsx"), clock=clock)  # format from the name
    assert code == 0 and "wrote 1 case(s)" in out
    ws = load_workbook(home / "台账.xlsx").active
    assert [c.value for c in next(ws.iter_rows())] == headers("zh") and ws.freeze_panes == "A2"
    assert ws.cell(row=2, column=1).value == 1 and ws.cell(row=2, column=COLUMNS.index("state") + 1).value == "待受理"
    code, _, err = run(capsys, "ledger", "--format", "xlsx", clock=clock)
    assert code == 2 and "--out" in err
    from runtime.config import load_config
    from runtime.wiring import build_services

    services = build_services(load_config(env={}), clock=clock)
    try:  # every exported column is one the domain's ledger really provides
        assert set(COLUMNS) <= set(services.case_service.ledger()[0])
    finally:
        services.close()
    code, out, _ = run(capsys, "ledger", "--format", "json", "--unit", "T02", clock=clock)
    assert code == 0 and json.loads(out) == []  # the case is in T01
    code, out, _ = run(capsys, "ledger", "--format", "json", "--unit", "V0101", clock=clock)
    assert [r["case_id"] for r in json.loads(out)] == [1]


def test_tick_escalates_an_unacknowledged_urgent_case(home: Path, capsys) -> None:
    clock = FakeClock()
    run(capsys, "import-org", clock=clock)
    run(capsys, "report", "--from", "P1111", FIRE, clock=clock)
    code, out, _ = run(capsys, "tick", clock=clock)
    assert code == 0 and out.startswith("processed 0 ")
    clock.advance(minutes=31)  # urgent: acknowledge within 30 minutes
    code, out, _ = run(capsys, "tick", clock=clock)
    assert code == 0 and out.startswith("processed 1 ")
    code, out, _ = run(capsys, "show", "1", clock=clock)
    assert "owner:     陈志强" in out  # T01's township commander
    assert "escalat" in out
    code, out, _ = run(capsys, "tick", clock=clock)  # nothing due twice
    assert out.startswith("processed 0 ")


def test_report_errors(home: Path, capsys) -> None:
    run(capsys, "import-org")
    code, _, err = run(capsys, "report", "--from", "P404", "羊丢了")
    assert code == 2 and "no person with code 'P404'" in err
    code, _, err = run(capsys, "report", "--from", "P1111", "  ")
    assert code == 2 and "empty" in err
    code, _, err = run(capsys, "report", "羊丢了")
    assert code == 2 and "--from" in err


def test_invite_prints_code_and_deep_link(home: Path, capsys) -> None:
    run(capsys, "import-org")
    code, out, _ = run(capsys, "invite", "P1111")
    assert code == 0 and "/start " in out and "username" in out  # no username configured: how to get a link
    (home / "config.toml").write_text('[bot]\nusername = "lianhu_demo_bot"\n', encoding="utf-8")
    code, out, _ = run(capsys, "invite", "P1111")
    assert code == 0
    invite = out.splitlines()[0].rsplit(" ", 1)[1]
    assert f"https://t.me/lianhu_demo_bot?start={invite}" in out
    from sqlalchemy import select

    from storage.db import Database
    from storage.models import InviteCode, Person

    db = Database(f"sqlite:///{home / 'data' / 'lianhu.sqlite3'}")
    try:
        with db.session() as s:
            person = s.scalars(select(Person).join(InviteCode, InviteCode.person_id == Person.id)
                               .where(InviteCode.code == invite)).one()
            assert person.code == "P1111"
    finally:
        db.dispose()


def test_export_corrections_writes_training_jsonl(home: Path, capsys) -> None:
    """An official's correction becomes a labelled line for benchmarks/train_triage.py."""
    from runtime.config import load_config
    from runtime.wiring import build_services

    run(capsys, "import-org")
    run(capsys, "report", "--from", "P1111", "冬窝子那边的电一直不稳 一天停好几次")
    services = build_services(load_config(None))
    leader = services.people_service.by_code("P110")
    services.case_service.correct_triage(1, leader.id, urgency="priority", category="infrastructure")
    services.case_service.correct_triage(1, leader.id, urgency="urgent")  # the latest correction wins
    services.db.dispose()

    code, out, _ = run(capsys, "export-corrections", "corrections.jsonl")
    assert code == 0 and "wrote 1 " in out
    rows = [json.loads(line) for line in (home / "corrections.jsonl").read_text(encoding="utf-8").splitlines()]
    assert rows == [{"text": "冬窝子那边的电一直不稳 一天停好几次", "lang": "zh", "urgent": True,
                     "category": "infrastructure"}]


def test_send_a_task_show_it_and_list_visits(home: Path, capsys) -> None:
    clock = FakeClock()
    assert run(capsys, "import-org", clock=clock)[0] == 0
    code, out, err = run(capsys, "task", "--from", "P100", "--to", "V0101,V0102", "--due", "6h", "检查每户帐篷",
                         clock=clock)
    assert code == 0, err
    assert "task #1 sent to 8 liaison worker(s), 52 household line(s)" in out
    code, out, _ = run(capsys, "task", "--show", "1", "--from", "P100", clock=clock)
    assert code == 0 and "answered 0/52" in out and "多卡村: 0/26" in out
    assert "send      陈志强 draft→sent" in out
    code, _, err = run(capsys, "task", "--from", "P200", "--to", "V0101", "--due", "6h", "越界", clock=clock)
    assert code == 2 and "outside" in err
    code, _, err = run(capsys, "task", "--from", "P100", "--due", "6h", clock=clock)
    assert code == 2 and "say what to do" in err
    code, out, _ = run(capsys, "visits", "--person", "P110", clock=clock)
    assert code == 0 and "no visits due" in out
    clock.advance(hours=3)
    code, out, _ = run(capsys, "tick", clock=clock)
    assert code == 0 and "1 task reminder" in out

    # an elder's death reported from the command line: a visit for the cadre, and the ledger's visits sheet
    assert run(capsys, "report", "--from", "P1111", "仁青家的老阿爸昨晚去世了，家里人很难过", clock=clock)[0] == 0
    code, out, _ = run(capsys, "visits", "--person", "P110", clock=clock)
    assert code == 0 and "no visits due" not in out
    from openpyxl import load_workbook

    for unit, visits in (("T01", 1), ("T02", 0)):
        path = home / f"台账-{unit}.xlsx"
        assert run(capsys, "ledger", "--out", str(path), "--unit", unit, clock=clock)[0] == 0
        book = load_workbook(path)
        assert book.sheetnames[1] == "走访台账"
        rows = [[c.value for c in r] for r in book["走访台账"].iter_rows()]
        assert rows[0][:2] == ["走访编号", "走访事由"] and len(rows) == 1 + visits
    assert load_workbook(home / "台账-T01.xlsx")["走访台账"]["B2"].value == "老人去世"


def test_web_link_and_api_keys(home: Path, capsys) -> None:
    assert run(capsys, "import-org")[0] == 0
    code, out, _ = run(capsys, "web-link", "P002")
    assert code == 0 and out.startswith("http://127.0.0.1:8080/signin/") and "P002" in out
    code, _, err = run(capsys, "web-link", "P1111")  # liaison workers report in Telegram; no console
    assert code == 2 and "may not use the console" in err
    code, out, _ = run(capsys, "api-key", "create", "hotline", "--unit", "C01")
    key = out.splitlines()[1]
    assert code == 0 and key.startswith("lh_") and len(key) > 30
    code, out, _ = run(capsys, "api-key", "list")
    assert "hotline" in out and key not in out  # only a prefix is ever shown again
    assert run(capsys, "api-key", "create", "hotline", "--unit", "C01")[0] == 2  # names are unique
    assert run(capsys, "api-key", "create", "other", "--unit", "NOPE")[0] == 2
    code, out, _ = run(capsys, "api-key", "revoke", "hotline")
    assert code == 0 and "revoked hotline" in out
