"""``lianhu check``: every post nobody reachable holds, before the first report (issue 10, finding 2), and the
smaller CLI findings: ``invite`` for someone already registered says so, ``import-org``/``invite`` need no
bot token."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import update

from bot.cli import main
from runtime.config import load_config
from runtime.wiring import open_database
from storage.models import Person

SECRETS = ("LIANHU_BOT_TOKEN", "LIANHU_DATABASE_URL", "LIANHU_DB_PASSWORD", "LIANHU_CONFIG")


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    for name in SECRETS:
        monkeypatch.delenv(name, raising=False)
    return tmp_path


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _register(*codes: str) -> None:
    db = open_database(load_config(None))
    with db.session() as s:
        for i, code in enumerate(codes):
            s.execute(update(Person).where(Person.code == code).values(telegram_user_id=9000 + i,
                                                                       telegram_chat_id=9000 + i))
    db.dispose()


def test_check_lists_every_post_nobody_reachable_holds(home: Path, capsys) -> None:
    assert run(capsys, "import-org")[0] == 0  # no bot token needed
    code, out, _ = run(capsys, "check")
    assert code == 1
    assert "V0101 多卡村: grid_leader: nobody reachable holds it: P110 王建国 (not registered)" in out
    assert "T01 扎西乡: township_commander" in out and "C01 尕玛示范县: county_commander" in out
    assert "department_contact[health] (for medical)" in out
    assert "Telegram is off" in out

    _register("P001", "P002", "P003", "P004", "P100", "P200", "P110", "P120", "P210", "P220",
              "P010", "P011", "P012", "P013", "P014", "P015", "P016", "P017")
    code, out, _ = run(capsys, "check")
    assert "V0101" not in out and "grid_leader" not in out
    assert "liaison worker(s) have not registered yet" in out
    assert code == 0 and "the org tree is ready" in out


def test_invite_for_someone_already_registered_says_so(home: Path, capsys) -> None:
    run(capsys, "import-org")
    code, out, _ = run(capsys, "invite", "P110")  # no bot token needed either
    assert code == 0 and "invite code for P110" in out
    _register("P110")
    code, out, _ = run(capsys, "invite", "P110")
    assert code == 0 and "already registered" in out and "invite code" not in out
    code, out, _ = run(capsys, "invite", "P110", "--again")
    assert "invite code for P110" in out
