"""Settings: read once from the environment at startup and passed down; nothing else reads the environment."""

import logging
import os
from collections.abc import Mapping
from pathlib import Path

import msgspec
import platformdirs

from application.live_cache import DEFAULT_MAX_WATCHERS, DEFAULT_PRINCIPAL_TTL_S, DEFAULT_PROMPT_MB


class SettingsError(ValueError):
    """An environment variable has a value the service cannot use; the message names it."""


def _number(env: Mapping[str, str], name: str, default: float, *, minimum: float) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a number, not {raw!r}") from None
    if value < minimum:
        raise SettingsError(f"{name} must be at least {minimum}, not {raw!r}")
    return value


FLAGS: dict[str, bool] = {"1": True, "true": True, "on": True, "0": False, "false": False, "off": False}


def _flag(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    value = FLAGS.get(raw.lower())
    if value is None:
        raise SettingsError(f"{name} must be 1 or 0 (true/false, on/off), not {raw!r}")
    return value


def default_data_dir(euid: int) -> Path:
    """Root gets a system location (its home is private, and the server runs as another user); others their own."""
    return Path("/var/lib/org-agents") if euid == 0 else platformdirs.user_data_path("org-agents")


class Settings(msgspec.Struct, frozen=True, kw_only=True):
    database_url: str | None = None  # None: start the embedded PostgreSQL in data_dir
    data_dir: Path
    pool_min_size: int = 2
    pool_max_size: int = 10
    pool_timeout_s: float = 5.0  # waiting for a pooled connection longer than this is an outage, not a queue
    statement_timeout_s: float = 10.0  # a statement running longer (a slow or locked database) is cancelled: 503
    log_level: str = "info"
    live_cache_mb: int = DEFAULT_PROMPT_MB  # live prompts held in memory per process; 0: every fetch asks the database
    token_cache_s: float = DEFAULT_PRINCIPAL_TTL_S  # a token's principal is kept in memory at most this long
    hot_path: bool = True  # cached live prompts are answered before routing (entrypoints/http/hot_path.py)
    max_watchers: int = DEFAULT_MAX_WATCHERS  # `?wait=` requests held at once per process; past it, answered at once

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> "Settings":
        data_dir = env.get("ORG_AGENTS_DATA_DIR") or str(default_data_dir(os.geteuid()))
        pool_min = int(_number(env, "ORG_AGENTS_POOL_MIN_SIZE", 2, minimum=1))
        pool_max = int(_number(env, "ORG_AGENTS_POOL_MAX_SIZE", max(10, pool_min), minimum=1))
        if pool_max < pool_min:
            raise SettingsError("ORG_AGENTS_POOL_MAX_SIZE must not be below ORG_AGENTS_POOL_MIN_SIZE")
        log_level = (env.get("ORG_AGENTS_LOG_LEVEL") or "info").lower()
        if log_level not in {"debug", "info", "warning", "error"}:
            raise SettingsError(f"ORG_AGENTS_LOG_LEVEL must be debug, info, warning or error, not {log_level!r}")
        return cls(
            database_url=env.get("DATABASE_URL") or None,
            data_dir=Path(data_dir).expanduser(),
            pool_min_size=pool_min,
            pool_max_size=pool_max,
            pool_timeout_s=_number(env, "ORG_AGENTS_POOL_TIMEOUT", 5.0, minimum=0.1),
            statement_timeout_s=_number(env, "ORG_AGENTS_STATEMENT_TIMEOUT", 10.0, minimum=0.1),
            log_level=log_level,
            live_cache_mb=int(_number(env, "ORG_AGENTS_LIVE_CACHE_MB", DEFAULT_PROMPT_MB, minimum=0)),
            token_cache_s=_number(env, "ORG_AGENTS_TOKEN_CACHE_S", DEFAULT_PRINCIPAL_TTL_S, minimum=0),
            hot_path=_flag(env, "ORG_AGENTS_HOT_PATH", True),
            max_watchers=int(_number(env, "ORG_AGENTS_MAX_WATCHERS", DEFAULT_MAX_WATCHERS, minimum=0)),
        )


def configure_logging(settings: Settings) -> None:
    """Once per process: the CLI, and each worker `serve` starts."""
    logging.basicConfig(level=settings.log_level.upper(), format="%(levelname)s %(name)s: %(message)s")
