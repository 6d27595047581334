"""Configuration: one TOML file, secrets from the environment, every mistake named by its key.

Why this shape:
- Operators edit ``config.toml`` by hand on a county server; a typo must stop start-up with a message naming
  the exact key (``bot.webhook_prot: unknown key``), never be silently ignored or end in a traceback.
- Secrets (bot token, database password, webhook secret) may live in the environment (systemd
  ``EnvironmentFile``) so the TOML file can be shared; the environment wins over the file.
- Sections the bot/CLI use directly are typed, frozen dataclasses. Sections whose meaning belongs to another
  package (``[policy]`` → ``workflows.policy``, ``[routing]`` → routing, ``[triage]`` → the classifier,
  ``[transcription]`` → ``transcription.factory``) are kept as plain dicts and handed over; ``[policy]`` and
  ``[routing]`` are still validated here so their errors also appear at load time.

Search order: the explicit path (``--config``), ``$LIANHU_CONFIG``, ``./config.toml``, else built-in defaults.
"""

from __future__ import annotations

import copy
import os
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from workflows.durations import HINT as DURATION_HINT
from workflows.durations import parse_duration

T = TypeVar("T")

ENV_CONFIG = "LIANHU_CONFIG"
ENV_TOKEN = "LIANHU_BOT_TOKEN"
ENV_DATABASE_URL = "LIANHU_DATABASE_URL"
ENV_DB_PASSWORD = "LIANHU_DB_PASSWORD"
DEFAULT_CONFIG_FILE = "config.toml"
UI_LANGUAGES = ("zh", "bo", "en")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")

DEFAULT_DEPARTMENT_FOR_CATEGORY: dict[str, str] = {
    "medical": "health",
    "public_health": "health",
    "hardship": "civil_affairs",
    "bereavement": "civil_affairs",
    "livestock": "agriculture",
    "education": "education",
    "housing": "housing",
}
DEFAULT_ROUTING: dict[str, Any] = {
    "department_for_category": DEFAULT_DEPARTMENT_FOR_CATEGORY,
    "reporter_open_case_window": "30m",
    # pass over officials a notice cannot reach (never registered, blocked the bot, account gone):
    # "auto" = when a bot token is configured (Telegram is how officials hear about cases), or true / false
    "skip_unreachable": "auto",
    "media_words_wait": "10m",
}


class ConfigError(ValueError):
    """A bad configuration. The message starts with the key (``policy.urgent.ack_within: ...``) or the file."""


# ------------------------------------------------------------------------------------------ the config


@dataclass(frozen=True)
class BotConfig:
    token: str | None = field(default=None, repr=False)
    username: str | None = None  # without "@"; used for deep links https://t.me/<username>?start=<code>
    mode: Literal["polling", "webhook"] = "polling"
    webhook_url: str | None = None
    webhook_listen: str = "0.0.0.0"
    webhook_port: int = 8443
    webhook_secret_env: str = "LIANHU_WEBHOOK_SECRET"
    webhook_secret: str | None = field(default=None, repr=False)  # read from the env variable named above
    base_url: str | None = None  # self-hosted Bot API server, e.g. "http://127.0.0.1:8081/bot"
    base_file_url: str | None = None  # e.g. "http://127.0.0.1:8081/file/bot"; lets the bot fetch > 20 MB
    # Button/card labels for categories added in [triage] (or to rename shipped ones): category -> {lang: text}.
    category_labels: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    default_ui_language: str = "zh"
    concurrent_updates: int = 8

    def deep_link(self, start: str) -> str | None:
        return f"https://t.me/{self.username}?start={start}" if self.username else None


@dataclass(frozen=True)
class DatabaseConfig:
    url: str = field(repr=False)  # may carry the password; use ``safe_url`` in messages and logs
    data_dir: Path = Path("data")

    @property
    def safe_url(self) -> str:
        return make_url(self.url).render_as_string(hide_password=True)


@dataclass(frozen=True)
class SchedulerConfig:
    tick_seconds: float = 30.0
    lease_seconds: float = 120.0


@dataclass(frozen=True)
class OutboxConfig:
    max_attempts: int = 8
    backoff_base_seconds: float = 5.0
    backoff_max_seconds: float = 3600.0
    tick_seconds: float = 2.0


@dataclass(frozen=True)
class WebConfig:
    """The console (``web/``): where it listens, the address people reach it at, sign-in and session times."""

    enabled: bool = True
    listen: str = "127.0.0.1"  # loopback by default: put nginx in front (docs/operations.md)
    port: int = 8080
    public_url: str | None = None  # e.g. "https://lianhu.example.org"; default http://<listen>:<port>
    link_ttl: float = 15 * 60.0
    session_idle: float = 7 * 86400.0
    session_max: float = 30 * 86400.0
    wall_refresh_seconds: int = 30
    timezone: str = "Asia/Shanghai"
    max_upload_bytes: int = 20_000_000

    @property
    def base_url(self) -> str:
        if self.public_url:
            return self.public_url.rstrip("/")
        host = "127.0.0.1" if self.listen in ("0.0.0.0", "::", "") else self.listen
        return f"http://{host}:{self.port}"

    def signin_url(self, token: str) -> str:
        return f"{self.base_url}/signin/{token}"


@dataclass(frozen=True)
class LoggingConfig:
    level: str = "INFO"


@dataclass(frozen=True)
class Config:
    bot: BotConfig
    database: DatabaseConfig
    scheduler: SchedulerConfig = SchedulerConfig()
    outbox: OutboxConfig = OutboxConfig()
    logging: LoggingConfig = LoggingConfig()
    web: WebConfig = WebConfig()
    # Passed through to their owners (see module docstring).
    policy: dict[str, Any] = field(default_factory=dict)  # -> workflows.policy.Policies.from_config
    routing: dict[str, Any] = field(default_factory=lambda: copy.deepcopy(DEFAULT_ROUTING))
    triage: dict[str, Any] = field(default_factory=dict)  # -> workflows.triage.default_classifier
    transcription: dict[str, Any] = field(default_factory=dict)  # -> transcription.factory.build_transcribers
    tasks: dict[str, Any] = field(default_factory=dict)  # -> workflows.tasks.TaskSettings.from_config
    visits: dict[str, Any] = field(default_factory=dict)  # -> workflows.visits.VisitSettings.from_config
    source: Path | None = None  # the file this came from; None = built-in defaults


# ------------------------------------------------------------------------------------------ reading helpers


class _Section:
    """Reads one TOML table, converting and checking each key; ``finish()`` rejects keys nobody read."""

    def __init__(self, name: str, table: Any) -> None:
        if not isinstance(table, Mapping):
            raise ConfigError(f"{name}: expected a table [{name}], got {table!r}")
        self.name, self.table, self.seen = name, table, set[str]()

    def key(self, key: str) -> str:
        return f"{self.name}.{key}"

    def get(self, key: str, default: T, convert: Callable[[str, Any], T]) -> T:
        self.seen.add(key)
        if key not in self.table:
            return default
        return convert(self.key(key), self.table[key])

    def finish(self) -> None:
        unknown = sorted(set(self.table) - self.seen)
        if unknown:
            known = ", ".join(sorted(self.seen))
            raise ConfigError(f"{self.key(unknown[0])}: unknown key (known keys in [{self.name}]: {known})")


def _str(where: str, value: Any) -> str | None:
    if not isinstance(value, str):
        raise ConfigError(f"{where}: expected a string in quotes, got {value!r}")
    return value.strip() or None


def _choice(*allowed: str) -> Callable[[str, Any], str]:
    def convert(where: str, value: Any) -> str:
        if not isinstance(value, str) or value.strip() not in allowed:
            raise ConfigError(f"{where}: {value!r} is not one of {', '.join(repr(a) for a in allowed)}")
        return value.strip()

    return convert


def _int(minimum: int, maximum: int | None = None) -> Callable[[str, Any], int]:
    def convert(where: str, value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where}: expected a whole number, got {value!r}")
        if value < minimum or (maximum is not None and value > maximum):
            bounds = f"between {minimum} and {maximum}" if maximum is not None else f"at least {minimum}"
            raise ConfigError(f"{where}: {value} is out of range; it must be {bounds}")
        return value

    return convert


def _seconds(where: str, value: Any) -> float:
    """Seconds as a number, or a human duration ("30s", "2m") for convenience."""
    try:
        seconds = parse_duration(value).total_seconds()
    except ValueError:
        raise ConfigError(f"{where}: {value!r} is not a number of seconds (or {DURATION_HINT})") from None
    if seconds <= 0:
        raise ConfigError(f"{where}: must be more than zero")
    return seconds


def _url(where: str, value: Any) -> str | None:
    text = _str(where, value)
    if text is not None and not re.match(r"^https?://[^\s/]+", text):
        raise ConfigError(f"{where}: {text!r} is not an http(s) URL")
    return text


def _no_longer_used(hint: str) -> Callable[[str, Any], None]:
    """A key old config files may still have: stop with what to do instead (never silently ignore it)."""

    def convert(where: str, value: Any) -> None:
        raise ConfigError(f"{where}: no longer used; {hint}")

    return convert


def _category_labels(where: str, value: Any) -> dict[str, dict[str, str]]:
    """``wildlife = "野生动物"`` (every language) or ``wildlife = { zh = "野生动物", bo = "...", en = "Wildlife" }``."""
    if not isinstance(value, Mapping):
        raise ConfigError(f'{where}: expected a table like {{ wildlife = {{ zh = "野生动物", en = "Wildlife" }} }}')
    labels: dict[str, dict[str, str]] = {}
    for category, raw in value.items():
        key = f"{where}.{category}"
        if isinstance(raw, str) and raw.strip():
            labels[category] = {lang: raw.strip() for lang in UI_LANGUAGES}
        elif isinstance(raw, Mapping) and raw:
            unknown = sorted(set(raw) - set(UI_LANGUAGES))
            if unknown:
                raise ConfigError(f"{key}.{unknown[0]}: unknown language (known: {', '.join(UI_LANGUAGES)})")
            if any(not isinstance(v, str) or not v.strip() for v in raw.values()):
                raise ConfigError(f"{key}: every label must be a non-empty string in quotes")
            labels[category] = {lang: text.strip() for lang, text in raw.items()}
        else:
            raise ConfigError(f'{key}: expected a label in quotes or a table {{ zh = "...", bo = "...", en = "..." }}')
    return labels


# ------------------------------------------------------------------------------------------ sections


_TOKEN_RE = re.compile(r"^\d{3,}:[A-Za-z0-9_-]{20,}$")
_USERNAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]{3,31}$")
_ENV_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _bot(table: Any, env: Mapping[str, str]) -> BotConfig:
    s = _Section("bot", table)
    d = BotConfig()
    token = s.get("token", None, _str)
    token_key = "bot.token"
    if env.get(ENV_TOKEN, "").strip():
        token, token_key = env[ENV_TOKEN].strip(), ENV_TOKEN
    if token is not None and not _TOKEN_RE.match(token):
        raise ConfigError(f"{token_key}: does not look like a bot token from @BotFather (123456789:AAE...)")
    username = s.get("username", None, _str)
    if username is not None:
        username = username.removeprefix("@")
        if not _USERNAME_RE.match(username):
            raise ConfigError(f"bot.username: {username!r} is not a Telegram bot username (e.g. lianhu_demo_bot)")
    s.get("admins", None, _no_longer_used("give people the admin role in people.csv (they get delivery-failure "
                                          "and routing notices in Telegram once registered)"))
    mode = s.get("mode", d.mode, _choice("polling", "webhook"))
    webhook_url = s.get("webhook_url", None, _url)
    secret_env = s.get("webhook_secret_env", d.webhook_secret_env, _str) or d.webhook_secret_env
    if not _ENV_NAME_RE.match(secret_env):
        raise ConfigError(f"bot.webhook_secret_env: {secret_env!r} is not an environment variable name")
    secret = env.get(secret_env, "").strip() or None
    if secret is not None and not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", secret):
        raise ConfigError(f"{secret_env}: a webhook secret may only use A-Z, a-z, 0-9, _ and - (1-256 characters)")
    if mode == "webhook" and webhook_url is None:
        raise ConfigError('bot.webhook_url: required when bot.mode = "webhook" (the public https URL Telegram calls)')
    config = BotConfig(
        token=token,
        username=username,
        mode=mode,  # type: ignore[arg-type]
        webhook_url=webhook_url,
        webhook_listen=s.get("webhook_listen", d.webhook_listen, _str) or d.webhook_listen,
        webhook_port=s.get("webhook_port", d.webhook_port, _int(1, 65535)),
        webhook_secret_env=secret_env,
        webhook_secret=secret,
        base_url=s.get("base_url", None, _url),
        base_file_url=s.get("base_file_url", None, _url),
        category_labels=s.get("category_labels", {}, _category_labels),
        default_ui_language=s.get("default_ui_language", d.default_ui_language, _choice(*UI_LANGUAGES)),
        concurrent_updates=s.get("concurrent_updates", d.concurrent_updates, _int(1, 256)),
    )
    s.finish()
    return config


def _inject_password(url: str, where: str, env: Mapping[str, str]) -> str:
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ConfigError(
            f"{where}: {url!r} is not a database URL (e.g. sqlite:///data/lianhu.sqlite3 or "
            "postgresql+psycopg://lianhu@127.0.0.1/lianhu)"
        ) from None
    backend = parsed.get_backend_name()
    if backend not in ("sqlite", "postgresql"):
        raise ConfigError(f"{where}: unsupported database {backend!r}; use sqlite or postgresql")
    if backend == "postgresql" and parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")  # the driver we ship (psycopg 3)
    password = env.get(ENV_DB_PASSWORD)
    if backend == "postgresql" and parsed.password is None and password:
        parsed = parsed.set(password=password)
    return parsed.render_as_string(hide_password=False)


def _database(table: Any, env: Mapping[str, str]) -> DatabaseConfig:
    s = _Section("database", table)
    data_dir = Path(s.get("data_dir", "data", _str) or "data").expanduser()
    url = s.get("url", None, _str)
    where = "database.url"
    if env.get(ENV_DATABASE_URL, "").strip():
        url, where = env[ENV_DATABASE_URL].strip(), ENV_DATABASE_URL
    s.finish()
    if url is None:
        url = f"sqlite:///{data_dir.resolve() / 'lianhu.sqlite3'}"
    return DatabaseConfig(url=_inject_password(url, where, env), data_dir=data_dir)


def _scheduler(table: Any) -> SchedulerConfig:
    s, d = _Section("scheduler", table), SchedulerConfig()
    config = SchedulerConfig(
        tick_seconds=s.get("tick_seconds", d.tick_seconds, _seconds),
        lease_seconds=s.get("lease_seconds", d.lease_seconds, _seconds),
    )
    s.finish()
    if config.lease_seconds <= config.tick_seconds:
        raise ConfigError(
            f"scheduler.lease_seconds: must be longer than scheduler.tick_seconds ({config.tick_seconds:g}), "
            "or the lease lapses between two ticks and a second scheduler takes over"
        )
    return config


def _outbox(table: Any) -> OutboxConfig:
    s, d = _Section("outbox", table), OutboxConfig()
    config = OutboxConfig(
        max_attempts=s.get("max_attempts", d.max_attempts, _int(1, 1000)),
        backoff_base_seconds=s.get("backoff_base_seconds", d.backoff_base_seconds, _seconds),
        backoff_max_seconds=s.get("backoff_max_seconds", d.backoff_max_seconds, _seconds),
        tick_seconds=s.get("tick_seconds", d.tick_seconds, _seconds),
    )
    s.finish()
    if config.backoff_max_seconds < config.backoff_base_seconds:
        raise ConfigError(
            f"outbox.backoff_max_seconds: must be at least outbox.backoff_base_seconds ({config.backoff_base_seconds:g})"
        )
    return config


def _bool(where: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(f"{where}: expected true or false, got {value!r}")
    return value


def _web(table: Any) -> WebConfig:
    s, d = _Section("web", table), WebConfig()
    config = WebConfig(
        enabled=s.get("enabled", d.enabled, _bool),
        listen=s.get("listen", d.listen, _str) or d.listen,
        port=s.get("port", d.port, _int(1, 65535)),
        public_url=s.get("public_url", None, _url),
        link_ttl=s.get("link_ttl", d.link_ttl, _seconds),
        session_idle=s.get("session_idle", d.session_idle, _seconds),
        session_max=s.get("session_max", d.session_max, _seconds),
        wall_refresh_seconds=s.get("wall_refresh_seconds", d.wall_refresh_seconds, _int(5, 3600)),
        timezone=s.get("timezone", d.timezone, _str) or d.timezone,
        max_upload_bytes=s.get("max_upload_bytes", d.max_upload_bytes, _int(1000, 2_000_000_000)),
    )
    s.finish()
    try:
        from zoneinfo import ZoneInfo

        ZoneInfo(config.timezone)
    except Exception:
        raise ConfigError(f"web.timezone: {config.timezone!r} is not a time zone name (e.g. \"Asia/Shanghai\")") from None
    return config


def _logging(table: Any) -> LoggingConfig:
    s = _Section("logging", table)
    level = s.get("level", "INFO", lambda w, v: _choice(*LOG_LEVELS)(w, v.upper() if isinstance(v, str) else v))
    s.finish()
    return LoggingConfig(level=level)


def _table(name: str, value: Any) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise ConfigError(f"{name}: expected a table [{name}], got {value!r}")
    return copy.deepcopy(dict(value))


def _policy(table: Any) -> dict[str, Any]:
    policy = _table("policy", table)
    from workflows.policy import URGENCY_ORDER, Policies

    try:
        Policies.from_config(policy)
    except ValueError as exc:  # "urgent.ack_within: '30x' is not ..." -> "policy.urgent.ack_within: ..."
        msg = str(exc)
        raise ConfigError(f"policy.{msg}" if msg.startswith(URGENCY_ORDER) else f"policy: {msg}") from None
    return policy


def _categories(triage: Mapping[str, Any]) -> tuple[str, ...]:
    """The categories the classifier knows with this ``[triage]`` table (shipped + added), checked here so a
    bad triage table also stops start-up with its key."""
    from workflows.triage.config import build_lexicon
    from workflows.triage.lexicon import TriageConfigError

    try:
        categories = build_lexicon(dict(triage)).categories
    except TriageConfigError as exc:
        raise ConfigError(str(exc)) from None
    for name in categories:
        if len(name) > 32:  # it travels in inline-button data (at most 64 bytes)
            raise ConfigError(f"triage.categories.{name}: at most 32 characters")
    return tuple(categories)


def _routing(table: Any, categories: tuple[str, ...]) -> dict[str, Any]:
    routing = _table("routing", table)
    unknown = sorted(set(routing) - set(DEFAULT_ROUTING))
    if unknown:
        raise ConfigError(f"routing.{unknown[0]}: unknown key (known: {', '.join(DEFAULT_ROUTING)})")
    mapping = routing.get("department_for_category", DEFAULT_DEPARTMENT_FOR_CATEGORY)
    where = "routing.department_for_category"
    if not isinstance(mapping, Mapping):
        raise ConfigError(f'{where}: expected a table like {{ medical = "health" }}, got {mapping!r}')
    for category, department in mapping.items():
        if category not in categories:
            raise ConfigError(
                f"{where}.{category}: unknown category (known: {', '.join(categories)}; "
                "add new ones under [triage.categories.<name>])"
            )
        if not isinstance(department, str) or not department.strip():
            raise ConfigError(f"{where}.{category}: expected a department name in quotes, e.g. \"health\"")
    window = routing.get("reporter_open_case_window", DEFAULT_ROUTING["reporter_open_case_window"])
    for key in ("reporter_open_case_window", "media_words_wait"):
        value = routing.get(key, DEFAULT_ROUTING[key])
        try:
            parse_duration(value)
        except ValueError:
            raise ConfigError(f"routing.{key}: {value!r} is not {DURATION_HINT}") from None
    skip = routing.get("skip_unreachable", "auto")
    if skip not in ("auto", True, False):
        raise ConfigError(f'routing.skip_unreachable: expected "auto", true or false, got {skip!r}')
    return {"department_for_category": dict(mapping), "reporter_open_case_window": window,
            "media_words_wait": routing.get("media_words_wait", DEFAULT_ROUTING["media_words_wait"]),
            "skip_unreachable": skip}


# ------------------------------------------------------------------------------------------ loading


_SECTIONS = ("bot", "database", "scheduler", "outbox", "logging", "web", "policy", "routing", "triage",
             "transcription", "tasks", "visits")


def _owned(name: str, table: Any, build: Callable[[dict[str, Any]], Any]) -> dict[str, Any]:
    """A section another package owns (``[tasks]``, ``[visits]``): checked by its owner's ``from_config`` so a
    mistake stops start-up naming the key, then passed on as a plain dict."""
    section = _table(name, table)
    try:
        build(section)
    except ValueError as exc:
        raise ConfigError(f"{name}.{exc}") from None
    return section


def find_config_file(path: str | Path | None = None, env: Mapping[str, str] = os.environ) -> Path | None:
    """The file to read: explicit path, then ``$LIANHU_CONFIG``, then ``./config.toml``; None = defaults."""
    if path is not None:
        chosen, how = Path(path), "--config"
    elif env.get(ENV_CONFIG, "").strip():
        chosen, how = Path(env[ENV_CONFIG].strip()), ENV_CONFIG
    else:
        local = Path(DEFAULT_CONFIG_FILE)
        return local if local.is_file() else None
    chosen = chosen.expanduser()
    if not chosen.is_file():
        raise ConfigError(f"{how}: config file {str(chosen)!r} does not exist (copy config.example.toml)")
    return chosen


def load_config(path: str | Path | None = None, env: Mapping[str, str] = os.environ) -> Config:
    """Read, validate and return the configuration; raises :class:`ConfigError` naming the bad key."""
    source = find_config_file(path, env)
    raw: dict[str, Any] = {}
    if source is not None:
        try:
            raw = tomllib.loads(source.read_text(encoding="utf-8-sig"))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{source}: not valid TOML: {exc}") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{source}: cannot read: {exc}") from None
    return config_from_dict(raw, env, source=source)


def config_from_dict(raw: Mapping[str, Any], env: Mapping[str, str] = os.environ, *, source: Path | None = None) -> Config:
    """Validate an already-parsed TOML document (tests and tools build configs this way)."""
    unknown = sorted(set(raw) - set(_SECTIONS))
    if unknown:
        raise ConfigError(f"{unknown[0]}: unknown section (known: {', '.join(_SECTIONS)})")
    triage = _table("triage", raw.get("triage", {}))
    categories = _categories(triage)
    bot = _bot(raw.get("bot", {}), env)
    for category in bot.category_labels:
        if category not in categories:
            raise ConfigError(f"bot.category_labels.{category}: unknown category (known: {', '.join(categories)})")
    return Config(
        bot=bot,
        database=_database(raw.get("database", {}), env),
        scheduler=_scheduler(raw.get("scheduler", {})),
        outbox=_outbox(raw.get("outbox", {})),
        logging=_logging(raw.get("logging", {})),
        web=_web(raw.get("web", {})),
        policy=_policy(raw.get("policy", {})),
        routing=_routing(raw.get("routing", {}), categories),
        triage=triage,
        transcription=_table("transcription", raw.get("transcription", {})),
        tasks=_owned("tasks", raw.get("tasks", {}), _task_settings),
        visits=_owned("visits", raw.get("visits", {}), _visit_settings),
        source=source,
    )


def _task_settings(section: dict[str, Any]) -> Any:
    from workflows.tasks.settings import TaskSettings

    return TaskSettings.from_config(section)


def _visit_settings(section: dict[str, Any]) -> Any:
    from workflows.visits.settings import VisitSettings

    return VisitSettings.from_config(section)
