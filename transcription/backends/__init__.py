"""Speech backends, one module each, imported lazily by :mod:`transcription.factory`.

Each backend class takes keyword settings and offers ``from_config(cfg: dict)`` for a ``[transcription.languages.X]``
table merged over the global limits. Shared here: the config error type (its message always starts with the
offending key, so the factory can prefix the full TOML path) and the small helpers that validate settings the
same way in every backend. What backends share at run time (decode with limits, clean up, build the
Transcript) is in :mod:`transcription.backends.common`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

__all__ = [
    "FACTORY_KEYS",
    "BackendConfigError",
    "check_keys",
    "float_tuple",
    "option",
    "positive",
    "settings",
]

# Keys the factory consumes itself; backends ignore them.
FACTORY_KEYS = frozenset({"backend", "workers", "trusted"})


class BackendConfigError(ValueError):
    """A bad setting. ``key`` is relative to the language table; str() reads ``"<key>: <problem>"``."""

    def __init__(self, key: str, problem: str) -> None:
        self.key = key
        self.problem = problem
        super().__init__(f"{key}: {problem}")


def check_keys(cfg: Mapping[str, Any], allowed: Iterable[str]) -> dict[str, Any]:
    """Return ``cfg`` without the factory's keys; raise on any key the backend does not know."""
    allowed = set(allowed)
    for key in cfg:
        if key not in allowed and key not in FACTORY_KEYS:
            raise BackendConfigError(key, f"unknown setting (known: {', '.join(sorted(allowed))})")
    return {k: v for k, v in cfg.items() if k not in FACTORY_KEYS}


def option(cfg: Mapping[str, Any], key: str, convert: Callable[[Any], Any], default: Any = None) -> Any:
    """``convert(cfg[key])`` or ``default`` when absent; a failed conversion names the key."""
    if key not in cfg or cfg[key] is None:
        return default
    value = cfg[key]
    if convert in (int, float) and isinstance(value, bool):
        raise BackendConfigError(key, f"expected a number, got {value!r}")
    if convert is bool and not isinstance(value, bool):
        raise BackendConfigError(key, f"expected true or false, got {value!r}")
    try:
        result = convert(value)
    except (TypeError, ValueError) as exc:
        raise BackendConfigError(key, f"invalid value {value!r} ({exc})") from exc
    return result


def settings(cfg: Mapping[str, Any], converters: Mapping[str, Callable[[Any], Any]]) -> dict[str, Any]:
    """Constructor keyword arguments from a language table: every key ``converters`` knows and ``cfg`` sets,
    converted with :func:`option`. Unknown keys are an error naming the key, so a typo like ``beam_szie``
    does not silently do nothing."""
    cfg = check_keys(cfg, converters)
    converted = {key: option(cfg, key, convert) for key, convert in converters.items()}
    return {key: value for key, value in converted.items() if value is not None}


def positive(convert: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """A converter that also rejects zero and negative numbers."""

    def check(value: Any) -> Any:
        if isinstance(value, bool):  # TOML true is not 1 worker
            raise ValueError("expected a number")
        number = convert(value)
        if number <= 0:
            raise ValueError("must be greater than 0")
        return number

    return check


def float_tuple(value: Any) -> tuple[float, ...]:
    """A number or a list of numbers (temperature fallback schedules)."""
    if isinstance(value, bool):
        raise ValueError("expected a number or a list of numbers")
    if isinstance(value, int | float):
        return (float(value),)
    items = tuple(float(v) for v in value)
    if not items:
        raise ValueError("empty list")
    return items
