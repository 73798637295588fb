"""Settings: read once from the environment at startup and passed down; nothing else reads the environment."""

import ipaddress
import logging
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Final
from urllib.parse import urlsplit

import msgspec
import platformdirs

from application.housekeeping import DEFAULT_WEBHOOK_LOG_DAYS
from application.live_cache import DEFAULT_MAX_WATCHERS, DEFAULT_PRINCIPAL_TTL_S, DEFAULT_PROMPT_MB
from domain.quotas import DEFAULT_QUOTAS, MIB


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


DEFAULT_WEBHOOK_TIMEOUT_S = 10.0
DEFAULT_JWT_LEEWAY_S = 30.0  # clock skew between the identity provider and this service
MAX_JWT_LEEWAY_S = 300.0
MIN_JWT_SECRET_BYTES = 32  # RFC 7518 §3.2: an HS256 key at least as long as the hash

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


class SignIn(msgspec.Struct, frozen=True, kw_only=True):
    """Sign-in tokens (JWTs) of an identity provider: one key source, a shared HS256 secret or a JWKS (a URL or a
    file) of RS256/ES256 keys; `iss` and `aud` checked when given (a JWKS needs both)."""

    hs256_secret: str | None = None
    jwks_url: str | None = None  # https; http only to a loopback address (tests, development)
    jwks_file: Path | None = None
    issuer: str | None = None
    audience: str | None = None
    org_claim: str = "org"
    user_claim: str = "sub"
    role_claim: str = "role"
    leeway_s: float = DEFAULT_JWT_LEEWAY_S

    def __repr__(self) -> str:  # settings may be logged or shown in a traceback: the secret stays out
        shown = {f: getattr(self, f) for f in self.__struct_fields__}
        if self.hs256_secret is not None:
            shown["hs256_secret"] = "<hidden>"  # noqa: S105 (a placeholder)
        return "SignIn(" + ", ".join(f"{name}={value!r}" for name, value in shown.items()) + ")"


JWT_SECRET, JWT_JWKS = "ORG_AGENTS_JWT_HS256_SECRET", "ORG_AGENTS_JWT_JWKS"
JWT_ISSUER, JWT_AUDIENCE, JWT_LEEWAY = "ORG_AGENTS_JWT_ISSUER", "ORG_AGENTS_JWT_AUDIENCE", "ORG_AGENTS_JWT_LEEWAY"
JWT_CLAIMS: dict[str, str] = {
    "org_claim": "ORG_AGENTS_JWT_ORG_CLAIM",
    "user_claim": "ORG_AGENTS_JWT_USER_CLAIM",
    "role_claim": "ORG_AGENTS_JWT_ROLE_CLAIM",
}
JWT_VARIABLES = (JWT_SECRET, JWT_JWKS, JWT_ISSUER, JWT_AUDIENCE, JWT_LEEWAY, *JWT_CLAIMS.values())


def _sign_in(env: Mapping[str, str]) -> SignIn | None:
    """None (sign-in off) unless a secret or a JWKS is given; a setting that would be ignored is an error."""
    given = {name: env[name] for name in JWT_VARIABLES if env.get(name)}
    secret, jwks = given.get(JWT_SECRET), given.get(JWT_JWKS)
    if secret is None and jwks is None:
        if given:
            raise SettingsError(f"{next(iter(given))} is set, but sign-in needs {JWT_SECRET} or {JWT_JWKS}")
        return None
    if secret is not None and jwks is not None:
        raise SettingsError(f"set {JWT_SECRET} or {JWT_JWKS}, not both")
    if secret is not None and len(secret.encode()) < MIN_JWT_SECRET_BYTES:
        raise SettingsError(f"{JWT_SECRET} must be at least {MIN_JWT_SECRET_BYTES} bytes long")
    issuer, audience = given.get(JWT_ISSUER), given.get(JWT_AUDIENCE)
    if jwks is not None and (issuer is None or audience is None):
        raise SettingsError(
            f"{JWT_JWKS} needs {JWT_ISSUER} and {JWT_AUDIENCE}: a provider's keys sign tokens for others too"
        )
    leeway = _number(env, JWT_LEEWAY, DEFAULT_JWT_LEEWAY_S, minimum=0)
    if leeway > MAX_JWT_LEEWAY_S:
        raise SettingsError(f"{JWT_LEEWAY} must be at most {MAX_JWT_LEEWAY_S} seconds, not {given[JWT_LEEWAY]!r}")
    claims = {field: given.get(name, "").strip() or None for field, name in JWT_CLAIMS.items()}
    for field, name in JWT_CLAIMS.items():
        if name in given and claims[field] is None:
            raise SettingsError(f"{name} must name a claim, not {given[name]!r}")
    url, path = _jwks_source(jwks) if jwks is not None else (None, None)
    return SignIn(
        hs256_secret=secret, jwks_url=url, jwks_file=path, issuer=issuer, audience=audience, leeway_s=leeway,
        **{field: value for field, value in claims.items() if value is not None},
    )  # fmt: skip


def _jwks_source(value: str) -> tuple[str | None, Path | None]:
    """A URL (https, or http to a loopback address) or a file path."""
    if "://" not in value:
        return None, Path(value).expanduser()
    parts = urlsplit(value)
    if (parts.scheme == "https" and parts.hostname) or (parts.scheme == "http" and _loopback(parts.hostname)):
        return value, None
    raise SettingsError(f"{JWT_JWKS} must be an https URL (http only to a loopback address) or a file, not {value!r}")


def _loopback(host: str | None) -> bool:
    if host == "localhost":
        return True
    try:
        return host is not None and ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


DEFAULT_RATE_LIMIT: Final = 1_000.0  # requests per second per credential, per worker: a busy runtime's fetches
DEFAULT_AUTH_FAILURE_LIMIT: Final = 10.0  # failed authentications per second per client address, per worker
DEFAULT_CLIENT_TIMEOUT_S: Final = 30.0  # to send a request's headers; and, from its first read, its whole body
MIN_RETENTION_DAYS: Final = 1.0


def _rate(env: Mapping[str, str], name: str, default: float) -> float | None:
    """A positive number per second, or `off` (None)."""
    if (env.get(name) or "").strip().lower() == "off":
        return None
    value = _number(env, name, default, minimum=0)
    if value <= 0:
        raise SettingsError(f"{name} must be above 0, or off, not {env.get(name)!r}")
    return value


def _days(env: Mapping[str, str], name: str) -> float | None:
    """A number of days, at least one; unset: None (forever)."""
    if not (env.get(name) or "").strip():
        return None
    return _number(env, name, 0, minimum=MIN_RETENTION_DAYS)


MAX_QUOTA: Final = 10**12  # a quota in bytes stays a 64-bit integer, as storage and JSON keep it


def _positive_integer(env: Mapping[str, str], name: str, default: int) -> int:
    raw = (env.get(name) or "").strip()
    if not raw:
        return default
    if not raw.isascii() or not raw.isdigit() or not 1 <= int(raw) <= MAX_QUOTA:
        raise SettingsError(f"{name} must be a positive integer (at most {MAX_QUOTA}), not {env.get(name)!r}")
    return int(raw)


QUOTA_AGENTS, QUOTA_VERSIONS, QUOTA_MB = "ORG_AGENTS_QUOTA_AGENTS", "ORG_AGENTS_QUOTA_VERSIONS", "ORG_AGENTS_QUOTA_MB"
DEFAULT_QUOTA_MB: Final = DEFAULT_QUOTAS.stored_bytes // MIB


METRICS_ADDR: Final = "ORG_AGENTS_METRICS_ADDR"
DEFAULT_METRICS_ADDR: Final = ("127.0.0.1", 9464)  # loopback: metrics are for the operator, not for any client


def _metrics_addr(env: Mapping[str, str]) -> tuple[str, int] | None:
    """`HOST:PORT` (an IPv6 host in brackets), or `off`; unset: loopback, port 9464."""
    raw = (env.get(METRICS_ADDR) or "").strip()
    if not raw:
        return DEFAULT_METRICS_ADDR
    if raw.lower() == "off":
        return None
    found = re.fullmatch(r"\[([0-9A-Fa-f:.]+)\]:([0-9]{1,5})|([^:\[\]\s]+):([0-9]{1,5})", raw)
    if found is None:
        raise SettingsError(f"{METRICS_ADDR} must be HOST:PORT ([HOST]:PORT for IPv6) or off, not {raw!r}")
    host, port = found[1] or found[3], int(found[2] or found[4])
    if not 0 < port < 65536:
        raise SettingsError(f"{METRICS_ADDR}'s port must be 1 to 65535, not {port}")
    return host, port


# Every variable the service reads, as `--help` lists them (the README's configuration table says more).
ENVIRONMENT: Final[dict[str, str]] = {
    "DATABASE_URL": "PostgreSQL connection string; unset: the embedded PostgreSQL in the data dir",
    "ORG_AGENTS_DATA_DIR": "where the embedded PostgreSQL keeps its cluster",
    "ORG_AGENTS_PGBOUNCER": "1: DATABASE_URL goes through PgBouncer in transaction pooling mode (0)",
    "ORG_AGENTS_LISTEN_URL": "a direct connection string for the change feed's LISTEN; unset: DATABASE_URL",
    "ORG_AGENTS_POOL_MIN_SIZE": "database connections per process, at least (2)",
    "ORG_AGENTS_POOL_MAX_SIZE": "database connections per process, at most (10)",
    "ORG_AGENTS_POOL_TIMEOUT": "seconds to wait for a connection before answering 503 (5)",
    "ORG_AGENTS_STATEMENT_TIMEOUT": "seconds a statement may run before it is cancelled (10)",
    "ORG_AGENTS_LOG_LEVEL": "debug, info, warning or error (info)",
    "ORG_AGENTS_LIVE_CACHE_MB": "live prompts kept in memory per worker; 0: off (64)",
    "ORG_AGENTS_TOKEN_CACHE_S": "seconds a token may be answered from memory (30)",
    "ORG_AGENTS_HOT_PATH": "0: cached prompts go through routing too (1)",
    "ORG_AGENTS_MAX_WATCHERS": "held ?wait= requests per worker (10000)",
    JWT_SECRET: "sign-in: HS256 secret shared with the identity provider",
    JWT_JWKS: "sign-in: JWKS URL or file of RS256/ES256 keys",
    JWT_ISSUER: "sign-in: required `iss`",
    JWT_AUDIENCE: "sign-in: required `aud`",
    JWT_CLAIMS["org_claim"]: "sign-in: the claim naming the organization (org)",
    JWT_CLAIMS["user_claim"]: "sign-in: the claim naming the user (sub)",
    JWT_CLAIMS["role_claim"]: "sign-in: the claim naming the role (role)",
    JWT_LEEWAY: "sign-in: seconds of clock skew allowed (30)",
    "ORG_AGENTS_WEBHOOK_ALLOW_PRIVATE": "1: webhooks may target loopback and private addresses, over http too (0)",
    "ORG_AGENTS_WEBHOOK_TIMEOUT": "seconds one webhook delivery attempt may take (10)",
    METRICS_ADDR: "HOST:PORT of the Prometheus listener (/metrics); off: none (127.0.0.1:9464)",
    "ORG_AGENTS_RATE_LIMIT": "requests per second per credential (or client address), per worker; off (1000)",
    "ORG_AGENTS_AUTH_FAILURE_LIMIT": "failed authentications per second per client address, per worker; off (10)",
    "ORG_AGENTS_CLIENT_TIMEOUT": "seconds a client has to send a request's headers, and its body (30)",
    "ORG_AGENTS_AUDIT_RETENTION_DAYS": "days audit events are kept; unset: forever",
    "ORG_AGENTS_WEBHOOK_LOG_DAYS": "days settled webhook deliveries are kept in the log (30)",
    QUOTA_AGENTS: f"agents (not deleted) one organization may have ({DEFAULT_QUOTAS.agents})",
    QUOTA_VERSIONS: f"blueprint versions one organization may store ({DEFAULT_QUOTAS.versions})",
    QUOTA_MB: f"megabytes (MiB) of blueprint documents one organization may store ({DEFAULT_QUOTA_MB})",
}


class Settings(msgspec.Struct, frozen=True, kw_only=True):
    database_url: str | None = None  # None: start the embedded PostgreSQL in data_dir
    pgbouncer: bool = False  # database_url is PgBouncer in transaction mode: nothing prepared, no session settings
    listen_url: str | None = None  # the change feed's LISTEN needs a session of its own; None: database_url
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
    sign_in: SignIn | None = None  # JWTs of an identity provider are accepted as bearer tokens; None: off
    webhook_allow_private: bool = False  # webhooks may target loopback and private addresses, over http too
    webhook_timeout_s: float = DEFAULT_WEBHOOK_TIMEOUT_S  # one delivery attempt, connecting to the last byte read
    metrics_addr: tuple[str, int] | None = DEFAULT_METRICS_ADDR  # where `serve` answers /metrics; None: off
    rate_limit: float | None = DEFAULT_RATE_LIMIT  # per credential (or address), per worker; None: off
    auth_failure_limit: float | None = DEFAULT_AUTH_FAILURE_LIMIT  # per client address, per worker; None: off
    client_timeout_s: float = DEFAULT_CLIENT_TIMEOUT_S  # headers, then the body: a stalled client is let go
    audit_retention_days: float | None = None  # None: audit events are kept forever
    webhook_log_days: float = DEFAULT_WEBHOOK_LOG_DAYS  # settled deliveries; pending ones are always kept
    quota_agents: int = DEFAULT_QUOTAS.agents  # per organization, agents not deleted
    quota_versions: int = DEFAULT_QUOTAS.versions  # per organization, every version ever written
    quota_mb: int = DEFAULT_QUOTA_MB  # per organization, the blueprint documents of those versions (MiB)

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
            pgbouncer=_flag(env, "ORG_AGENTS_PGBOUNCER", False),
            listen_url=env.get("ORG_AGENTS_LISTEN_URL") or None,
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
            sign_in=_sign_in(env),
            webhook_allow_private=_flag(env, "ORG_AGENTS_WEBHOOK_ALLOW_PRIVATE", False),
            webhook_timeout_s=_number(env, "ORG_AGENTS_WEBHOOK_TIMEOUT", DEFAULT_WEBHOOK_TIMEOUT_S, minimum=0.1),
            metrics_addr=_metrics_addr(env),
            rate_limit=_rate(env, "ORG_AGENTS_RATE_LIMIT", DEFAULT_RATE_LIMIT),
            auth_failure_limit=_rate(env, "ORG_AGENTS_AUTH_FAILURE_LIMIT", DEFAULT_AUTH_FAILURE_LIMIT),
            client_timeout_s=_number(env, "ORG_AGENTS_CLIENT_TIMEOUT", DEFAULT_CLIENT_TIMEOUT_S, minimum=0.1),
            audit_retention_days=_days(env, "ORG_AGENTS_AUDIT_RETENTION_DAYS"),
            webhook_log_days=_number(
                env, "ORG_AGENTS_WEBHOOK_LOG_DAYS", DEFAULT_WEBHOOK_LOG_DAYS, minimum=MIN_RETENTION_DAYS
            ),
            quota_agents=_positive_integer(env, QUOTA_AGENTS, DEFAULT_QUOTAS.agents),
            quota_versions=_positive_integer(env, QUOTA_VERSIONS, DEFAULT_QUOTAS.versions),
            quota_mb=_positive_integer(env, QUOTA_MB, DEFAULT_QUOTA_MB),
        )


LOG_FORMAT: Final = "%(levelname)s %(name)s: %(message)s"  # serve's access lines are written so too (http/logs.py)


def configure_logging(settings: Settings) -> None:
    """Once per process: the CLI, and each worker `serve` starts."""
    logging.basicConfig(level=settings.log_level.upper(), format=LOG_FORMAT)
