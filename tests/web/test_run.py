"""``lianhu run`` without a bot token: a real process starts the engine, the scheduler and the console, says in
one line that Telegram is off and how to turn it on; a person signs in with a link from ``lianhu web-link`` and
sees reports filed from the CLI on the wall; SIGTERM stops it cleanly."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.web.conftest import free_port


def lianhu(home: Path, *args: str, timeout: float = 120) -> str:
    result = subprocess.run([sys.executable, "-m", "bot.cli", *args], cwd=home, capture_output=True, text=True,
                            timeout=timeout, env=_env(home))
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIANHU_")}
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[2])
    env["LIANHU_CONFIG"] = str(home / "config.toml")
    return env


def test_run_without_a_token_serves_the_console(tmp_path: Path) -> None:
    port = free_port()
    (tmp_path / "config.toml").write_text(
        f'[database]\ndata_dir = "{tmp_path / "data"}"\n[web]\nport = {port}\n'
        '[scheduler]\ntick_seconds = 1\nlease_seconds = 5\n', encoding="utf-8")
    lianhu(tmp_path, "import-org")
    filed = lianhu(tmp_path, "report", "--from", "P1111", "二社的羊圈着火了 快来人")
    case_id = filed.split("#")[1].split(":")[0]
    proc = subprocess.Popen([sys.executable, "-m", "bot.cli", "run"], cwd=tmp_path, env=_env(tmp_path),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        lines = []
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            line = proc.stdout.readline()  # type: ignore[union-attr]
            if not line:
                break
            lines.append(line)
            if line.startswith("Lianhu console:"):
                break
        text = "".join(lines)
        assert "Telegram is off" in text and "LIANHU_BOT_TOKEN" in text, (text, proc.stderr.read()[-2000:])  # type: ignore[union-attr]
        assert f"http://127.0.0.1:{port}" in text
        link = lianhu(tmp_path, "web-link", "P100").splitlines()[0]
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=20) as browser:
            assert browser.get("/healthz").json()["database"]["ok"] is True
            r = browser.post(link.removeprefix(f"http://127.0.0.1:{port}"))
            assert r.status_code == 303
            wall = browser.get("/wall")
            assert wall.status_code == 200 and f'data-case="{case_id}"' in wall.text
            stats = browser.get("/stats/townships.csv")
            assert stats.status_code == 200 and "\n合计,1,1," in stats.text.replace("\r\n", "\n")
            assert browser.get("/stats/units.png").content.startswith(b"\x89PNG")
            for _ in range(50):  # the engine's scheduler took the lease
                if browser.get("/healthz").json()["scheduler"]["ok"]:
                    break
                time.sleep(0.2)
            assert browser.get("/healthz").json()["scheduler"]["ok"] is True
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=30)
    assert code == 0, proc.stderr.read()[-2000:]  # type: ignore[union-attr]


async def test_serve_with_a_token_runs_the_bot_and_the_console_in_one_loop(fake_telegram, database,
                                                                          sample_org) -> None:
    """With a token, ``runtime.serve`` starts the bot (polling the fake Bot API) and the console together; an
    official's /web link opens the console served by the same process; stopping ends both."""
    import asyncio
    import io

    from runtime.config import BotConfig, Config, DatabaseConfig, WebConfig
    from runtime.serve import serve
    from runtime.wiring import build_services

    port = free_port()
    config = Config(bot=BotConfig(token=fake_telegram.token, base_url=fake_telegram.base_url,
                                  base_file_url=fake_telegram.base_file_url),
                    database=DatabaseConfig(url=database.url), web=WebConfig(port=port))
    services = build_services(config, db=database)
    out, stop = io.StringIO(), asyncio.Event()
    task = asyncio.get_running_loop().create_task(serve(config, services, {}, stop=stop, out=out))
    try:
        await fake_telegram.wait_for(lambda: "Lianhu console:" in out.getvalue() or task.done(), timeout=30)
        assert "Telegram is off" not in out.getvalue() and "/web in the bot" in out.getvalue()
        official = fake_telegram.add_user(7001, "王建国")
        code = services.people_service.create_invite("P110")
        await official.send_command("start", code)
        await official.wait_for_message(lambda m: "登记成功" in m.content, timeout=10)
        await official.send_command("web")
        msg = await official.wait_for_message(lambda m: "/signin/" in m.content, timeout=10)
        link = next(w for w in msg.content.split() if "/signin/" in w)
        async with httpx.AsyncClient(timeout=20) as browser:
            assert (await browser.get(f"http://127.0.0.1:{port}/healthz")).json()["telegram"] == "on"
            r = await browser.post(link)
            assert r.status_code == 303 and r.headers["location"] == "/wall"
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)
