"""Config loading: defaults, the example file, env secrets, search order, and an error naming every bad key.
Also the shared duration parser (``workflows.durations``) the config and the domain both use."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from runtime.config import (
    DEFAULT_DEPARTMENT_FOR_CATEGORY,
    ConfigError,
    config_from_dict,
    load_config,
)
from workflows.durations import format_duration, parse_duration
from workflows.policy import Policies

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "config.example.toml"
TOKEN = "123456789:AAEabcdefghijklmnopqrstuvwxyz_-12"


def write(tmp_path: Path, text: str, name: str = "config.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def error_of(tmp_path: Path, text: str, env: dict[str, str] | None = None) -> str:
    with pytest.raises(ConfigError) as err:
        load_config(write(tmp_path, text), env=env or {})
    return str(err.value)


# ---------------------------------------------------------------------------------------------- durations


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30m", timedelta(minutes=30)),
        ("24h", timedelta(hours=24)),
        ("7d", timedelta(days=7)),
        ("1w", timedelta(weeks=1)),
        ("1h30m", timedelta(minutes=90)),
        (" 2H ", timedelta(hours=2)),
        ("45s", timedelta(seconds=45)),
        ("90", timedelta(seconds=90)),
        (90, timedelta(seconds=90)),
        (1.5, timedelta(seconds=1.5)),
        (timedelta(hours=3), timedelta(hours=3)),
        ("0s", timedelta(0)),
    ],
)
def test_parse_duration(text, expected) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("bad", ["30x", "", "m", "3 days", "-5m", -1, True, None, [1], "1h-30m"])
def test_parse_duration_rejects_with_a_clear_message(bad) -> None:
    with pytest.raises(ValueError, match=r"duration like 30m, 24h or 7d"):
        parse_duration(bad)


def test_format_duration_round_trips() -> None:
    for text in ("30m", "4h", "3d", "1h30m", "0s", "1d2h"):
        assert format_duration(parse_duration(text)) == text


# ---------------------------------------------------------------------------------------------- defaults


def test_no_file_gives_the_documented_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # no ./config.toml here
    config = load_config(env={})
    assert config.source is None
    assert config.bot.token is None and config.bot.mode == "polling" and config.bot.category_labels == {}
    assert config.database.url == f"sqlite:///{tmp_path / 'data' / 'lianhu.sqlite3'}"
    assert config.routing["department_for_category"] == DEFAULT_DEPARTMENT_FOR_CATEGORY
    assert config.routing["department_for_category"]["medical"] == "health"
    assert config.logging.level == "INFO"
    policies = Policies.from_config(config.policy)
    urgent, priority, general = (policies.for_urgency(u) for u in ("urgent", "priority", "general"))
    assert (urgent.ack_within, urgent.resolve_within, urgent.remind_every) == (
        timedelta(minutes=30), timedelta(hours=24), timedelta(minutes=30))
    assert (priority.ack_within, priority.resolve_within, priority.remind_every) == (
        timedelta(hours=4), timedelta(days=3), timedelta(hours=4))
    assert (general.ack_within, general.resolve_within, general.remind_before_resolve) == (
        timedelta(hours=24), timedelta(days=7), timedelta(days=1))
    assert general.autoclose_after == timedelta(days=3)
    assert not (tmp_path / "data").exists()  # loading has no side effects


def test_the_example_file_loads_to_the_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    example, default = load_config(EXAMPLE, env={}), load_config(env={})
    for section in ("bot", "database", "scheduler", "outbox", "logging", "web", "routing", "triage"):
        assert getattr(example, section) == getattr(default, section), section
    assert Policies.from_config(example.policy) == Policies.from_config(default.policy)
    from transcription.factory import default_config

    assert example.transcription == default_config()  # what the factory uses when the table is absent


def test_example_documents_every_typed_key() -> None:
    text = EXAMPLE.read_text(encoding="utf-8")
    from dataclasses import fields

    from runtime.config import (
        BotConfig,
        DatabaseConfig,
        LoggingConfig,
        OutboxConfig,
        SchedulerConfig,
        WebConfig,
    )

    for section, cls in (("bot", BotConfig), ("database", DatabaseConfig), ("scheduler", SchedulerConfig),
                         ("outbox", OutboxConfig), ("logging", LoggingConfig), ("web", WebConfig)):
        assert f"[{section}]" in text
        for f in fields(cls):
            if f.name != "webhook_secret":  # read from the env variable named by webhook_secret_env
                assert f"{f.name} =" in text, f"{section}.{f.name} is not documented in config.example.toml"


# ---------------------------------------------------------------------------------------------- values & env


def test_file_values_and_env_secrets(tmp_path: Path) -> None:
    path = write(tmp_path, f"""
[bot]
token = "{TOKEN}"
username = "@lianhu_demo_bot"
mode = "webhook"
webhook_url = "https://example.org/tg"
webhook_secret_env = "MY_SECRET"
base_url = "http://127.0.0.1:8081/bot"
[database]
url = "postgresql://lianhu@db.example/lianhu"
[policy.urgent]
ack_within = "15m"
[routing.department_for_category]
medical = "clinic"
[scheduler]
tick_seconds = "10s"
[logging]
level = "debug"
""")
    config = load_config(path, env={"LIANHU_DB_PASSWORD": "s3cr:t@", "MY_SECRET": "abc-123"})
    assert config.source == path
    assert config.bot.token == TOKEN and config.bot.username == "lianhu_demo_bot"
    assert config.bot.deep_link("XYZ") == "https://t.me/lianhu_demo_bot?start=XYZ"
    assert config.bot.webhook_secret == "abc-123"
    assert config.database.url == "postgresql+psycopg://lianhu:s3cr%3At%40@db.example/lianhu"
    assert "s3cr" not in config.database.safe_url and "s3cr" not in repr(config)
    assert TOKEN not in repr(config)
    assert Policies.from_config(config.policy).for_urgency("urgent").ack_within == timedelta(minutes=15)
    assert config.routing["department_for_category"] == {"medical": "clinic"}  # replaces the whole default
    assert config.scheduler.tick_seconds == 10 and config.logging.level == "DEBUG"


def test_env_wins_over_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, '[bot]\ntoken = "111:AAAAAAAAAAAAAAAAAAAAAAAAAAA"\n[database]\nurl = "sqlite:///x.db"\n')
    env = {"LIANHU_BOT_TOKEN": TOKEN, "LIANHU_DATABASE_URL": "postgresql+psycopg://u:pw@h/db",
           "LIANHU_DB_PASSWORD": "other"}
    config = load_config(path, env=env)
    assert config.bot.token == TOKEN
    assert config.database.url == "postgresql+psycopg://u:pw@h/db"  # a URL with a password keeps it


def test_search_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    write(tmp_path, '[logging]\nlevel = "WARNING"\n')
    other = write(tmp_path, '[logging]\nlevel = "ERROR"\n', name="other.toml")
    explicit = write(tmp_path, '[logging]\nlevel = "DEBUG"\n', name="explicit.toml")
    assert load_config(env={}).logging.level == "WARNING"  # ./config.toml
    assert load_config(env={"LIANHU_CONFIG": str(other)}).logging.level == "ERROR"
    assert load_config(explicit, env={"LIANHU_CONFIG": str(other)}).logging.level == "DEBUG"


def test_missing_explicit_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"--config: config file .*nope.toml.* does not exist"):
        load_config(tmp_path / "nope.toml", env={})
    with pytest.raises(ConfigError, match=r"LIANHU_CONFIG: config file"):
        load_config(env={"LIANHU_CONFIG": str(tmp_path / "gone.toml")})


# ---------------------------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('[policy.urgent]\nack_within = "30x"\n',
         "policy.urgent.ack_within: '30x' is not a duration like 30m, 24h or 7d"),
        ('[policy.urgnet]\nack_within = "30m"\n', "policy: unknown urgency in deadline policy: urgnet"),
        ('[policy.general]\nack_witin = "3h"\n', "policy.general: unknown key(s) ack_witin"),
        ('[bot]\nwebhok_url = "https://x.org"\n', "bot.webhok_url: unknown key"),
        ('[bot]\nmode = "push"\n', "bot.mode: 'push' is not one of 'polling', 'webhook'"),
        ('[bot]\nmode = "webhook"\n', "bot.webhook_url: required when bot.mode = \"webhook\""),
        ('[bot]\nwebhook_port = "80"\n', "bot.webhook_port: expected a whole number, got '80'"),
        ("[bot]\nwebhook_port = 70000\n", "bot.webhook_port: 70000 is out of range"),
        ("[bot]\nadmins = [111]\n",
         "bot.admins: no longer used; give people the admin role in people.csv"),
        ('[bot.category_labels]\nwildlife = "野生动物"\n', "bot.category_labels.wildlife: unknown category"),
        ('[bot.category_labels]\nmedical = { fr = "médical" }\n', "bot.category_labels.medical.fr: unknown language"),
        ('[triage.categories.wildlife]\nzh = []\n', "triage.categories.wildlife: needs at least one cue"),
        ('[bot]\ntoken = "hello"\n', "bot.token: does not look like a bot token"),
        ('[bot]\nusername = "a b"\n', "bot.username: 'a b' is not a Telegram bot username"),
        ('[bot]\nbase_url = "ftp://x"\n', "bot.base_url: 'ftp://x' is not an http(s) URL"),
        ('[bot]\ndefault_ui_language = "fr"\n', "bot.default_ui_language: 'fr' is not one of"),
        ("[bot]\nconcurrent_updates = 0\n", "bot.concurrent_updates: 0 is out of range"),
        ('[database]\nurl = "nonsense"\n', "database.url: 'nonsense' is not a database URL"),
        ('[database]\nurl = "mysql://u@h/db"\n', "database.url: unsupported database 'mysql'"),
        ('[database]\npath = "x"\n', "database.path: unknown key"),
        ("[scheduler]\ntick_seconds = 60\nlease_seconds = 30\n", "scheduler.lease_seconds: must be longer than"),
        ('[scheduler]\ntick_seconds = "soon"\n', "scheduler.tick_seconds: 'soon' is not a number of seconds"),
        ("[scheduler]\ntick_seconds = 0\n", "scheduler.tick_seconds: must be more than zero"),
        ("[outbox]\nmax_attempts = 0\n", "outbox.max_attempts: 0 is out of range"),
        ("[outbox]\nbackoff_base_seconds = 10\nbackoff_max_seconds = 5\n", "outbox.backoff_max_seconds: must be at least"),
        ('[logging]\nlevel = "LOUD"\n', "logging.level: 'LOUD' is not one of"),
        ('[routing]\nwindow = "1h"\n', "routing.window: unknown key"),
        ('[routing]\nreporter_open_case_window = "soon"\n', "routing.reporter_open_case_window: 'soon' is not"),
        ('[routing.department_for_category]\nmedcial = "health"\n',
         "routing.department_for_category.medcial: unknown category"),
        ("[routing.department_for_category]\nmedical = 3\n",
         "routing.department_for_category.medical: expected a department name"),
        ('triage = "rules"\n', "triage: expected a table [triage]"),
        ('bot = "x"\n', "bot: expected a table [bot]"),
        ("[telegram]\ntoken = 1\n", "telegram: unknown section"),
    ],
)
def test_bad_values_name_the_key(tmp_path: Path, text: str, expected: str) -> None:
    message = error_of(tmp_path, text)
    assert message.startswith(expected), message
    assert "\n" not in message


def test_bad_env_secrets_name_the_variable(tmp_path: Path) -> None:
    assert error_of(tmp_path, "", {"LIANHU_BOT_TOKEN": "oops"}).startswith("LIANHU_BOT_TOKEN: does not look like")
    assert error_of(tmp_path, "", {"LIANHU_DATABASE_URL": "x"}).startswith("LIANHU_DATABASE_URL: 'x' is not")
    assert error_of(tmp_path, "", {"LIANHU_WEBHOOK_SECRET": "has space"}).startswith("LIANHU_WEBHOOK_SECRET:")


def test_broken_toml_names_the_file_and_line(tmp_path: Path) -> None:
    message = error_of(tmp_path, "[bot]\ntoken = \n")
    assert "config.toml: not valid TOML" in message and "line 2" in message


def test_config_from_dict_validates_too() -> None:
    with pytest.raises(ConfigError, match=r"^outbox\.tick_seconds: "):
        config_from_dict({"outbox": {"tick_seconds": -1}}, env={})


def test_categories_added_in_triage_can_be_routed_and_labelled() -> None:
    config = config_from_dict({
        "triage": {"categories": {"wildlife": {"zh": ["雪豹下山"]}}},
        "routing": {"department_for_category": {"wildlife": "forestry", "medical": "health"}},
        "bot": {"category_labels": {"wildlife": {"zh": "野生动物肇事", "en": "Wildlife"}, "medical": "看病"}},
    }, env={})
    assert config.routing["department_for_category"]["wildlife"] == "forestry"
    assert config.bot.category_labels["wildlife"] == {"zh": "野生动物肇事", "en": "Wildlife"}
    assert config.bot.category_labels["medical"] == {"zh": "看病", "bo": "看病", "en": "看病"}
    with pytest.raises(ConfigError, match=r"^routing\.department_for_category\.wildlife: unknown category"):
        config_from_dict({"routing": {"department_for_category": {"wildlife": "forestry"}}}, env={})


def test_tasks_and_visits_sections_are_checked_by_key() -> None:
    from runtime.config import ConfigError, config_from_dict

    config = config_from_dict({"tasks": {"reminders": 1}, "visits": {"due": {"death": "12h"}}}, env={})
    assert config.tasks == {"reminders": 1} and config.visits == {"due": {"death": "12h"}}
    for raw, key in (({"tasks": {"reminders": "two"}}, "tasks.reminders"),
                     ({"tasks": {"templates": {"x": {"min_urgency": "asap"}}}}, "tasks.templates.x.min_urgency"),
                     ({"visits": {"due": {"wedding": "1d"}}}, "visits.due.wedding"),
                     ({"visits": {"festivals": {"losar": {"date": "soon"}}}}, "visits.festivals.losar.date")):
        with pytest.raises(ConfigError, match=f"^{key}"):
            config_from_dict(raw, env={})
