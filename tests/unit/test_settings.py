import json
import os
from pathlib import Path

import pytest

from domain.quotas import MIB, Quotas
from entrypoints.bootstrap import database, identity_of, live_cache_of, memory_deps, quotas_of
from entrypoints.settings import Settings, SettingsError, default_data_dir
from tests.jwks import SigningKeys


def test_without_a_database_url_the_embedded_server_is_used_in_the_data_dir(tmp_path: Path) -> None:
    settings = Settings.from_env({"ORG_AGENTS_DATA_DIR": str(tmp_path)})

    assert settings.database_url is None
    assert settings.data_dir == tmp_path
    assert (settings.pool_min_size, settings.pool_max_size, settings.pool_timeout_s) == (2, 10, 5.0)


def test_the_default_data_dir_is_the_users_own_or_a_system_one_for_root() -> None:
    assert default_data_dir(0) == Path("/var/lib/org-agents")
    assert default_data_dir(1000).name == "org-agents"
    assert default_data_dir(1000) != default_data_dir(0)
    assert Settings.from_env({}).data_dir == default_data_dir(os.geteuid())


def test_an_empty_database_url_means_none() -> None:
    assert Settings.from_env({"DATABASE_URL": ""}).database_url is None


def test_pool_sizes_timeout_and_log_level_are_read() -> None:
    settings = Settings.from_env(
        {
            "DATABASE_URL": "postgresql://db/x",
            "ORG_AGENTS_POOL_MIN_SIZE": "4",
            "ORG_AGENTS_POOL_MAX_SIZE": "16",
            "ORG_AGENTS_POOL_TIMEOUT": "0.5",
            "ORG_AGENTS_STATEMENT_TIMEOUT": "2.5",
            "ORG_AGENTS_LOG_LEVEL": "WARNING",
        }
    )

    assert settings.database_url == "postgresql://db/x"
    assert (settings.pool_min_size, settings.pool_max_size, settings.pool_timeout_s) == (4, 16, 0.5)
    assert settings.statement_timeout_s == 2.5
    assert settings.log_level == "warning"


def test_a_large_minimum_pool_raises_the_default_maximum() -> None:
    assert Settings.from_env({"ORG_AGENTS_POOL_MIN_SIZE": "12"}).pool_max_size == 12


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"ORG_AGENTS_POOL_MIN_SIZE": "many"}, "ORG_AGENTS_POOL_MIN_SIZE must be a number"),
        ({"ORG_AGENTS_POOL_MAX_SIZE": "0"}, "ORG_AGENTS_POOL_MAX_SIZE must be at least 1"),
        ({"ORG_AGENTS_POOL_MIN_SIZE": "5", "ORG_AGENTS_POOL_MAX_SIZE": "3"}, "must not be below"),
        ({"ORG_AGENTS_POOL_TIMEOUT": "0"}, "ORG_AGENTS_POOL_TIMEOUT must be at least"),
        ({"ORG_AGENTS_STATEMENT_TIMEOUT": "x"}, "ORG_AGENTS_STATEMENT_TIMEOUT"),
        ({"ORG_AGENTS_LOG_LEVEL": "chatty"}, "ORG_AGENTS_LOG_LEVEL must be"),
        ({"ORG_AGENTS_TOKEN_CACHE_S": "-1"}, "ORG_AGENTS_TOKEN_CACHE_S must be at least 0"),
        ({"ORG_AGENTS_TOKEN_CACHE_S": "soon"}, "ORG_AGENTS_TOKEN_CACHE_S must be a number"),
        ({"ORG_AGENTS_HOT_PATH": "maybe"}, "ORG_AGENTS_HOT_PATH must be 1 or 0"),
        ({"ORG_AGENTS_MAX_WATCHERS": "-1"}, "ORG_AGENTS_MAX_WATCHERS must be at least 0"),
        ({"ORG_AGENTS_MAX_WATCHERS": "lots"}, "ORG_AGENTS_MAX_WATCHERS must be a number"),
        ({"ORG_AGENTS_RATE_LIMIT": "0"}, "ORG_AGENTS_RATE_LIMIT must be above 0, or off"),
        ({"ORG_AGENTS_RATE_LIMIT": "fast"}, "ORG_AGENTS_RATE_LIMIT must be a number"),
        ({"ORG_AGENTS_AUTH_FAILURE_LIMIT": "-3"}, "ORG_AGENTS_AUTH_FAILURE_LIMIT must be at least 0"),
        ({"ORG_AGENTS_CLIENT_TIMEOUT": "0"}, "ORG_AGENTS_CLIENT_TIMEOUT must be at least"),
        ({"ORG_AGENTS_AUDIT_RETENTION_DAYS": "0.5"}, "ORG_AGENTS_AUDIT_RETENTION_DAYS must be at least 1"),
        ({"ORG_AGENTS_AUDIT_RETENTION_DAYS": "a year"}, "ORG_AGENTS_AUDIT_RETENTION_DAYS must be a number"),
        ({"ORG_AGENTS_WEBHOOK_LOG_DAYS": "0"}, "ORG_AGENTS_WEBHOOK_LOG_DAYS must be at least 1"),
    ],
)
def test_an_unusable_value_is_refused_with_its_name(env: dict[str, str], named: str) -> None:
    with pytest.raises(SettingsError, match=named):
        Settings.from_env(env)


def test_the_request_limits_are_on_by_default_read_and_may_be_switched_off() -> None:
    default = Settings.from_env({})
    assert (default.rate_limit, default.auth_failure_limit, default.client_timeout_s) == (1000, 10, 30)
    read = Settings.from_env(
        {"ORG_AGENTS_RATE_LIMIT": "50.5", "ORG_AGENTS_AUTH_FAILURE_LIMIT": "OFF", "ORG_AGENTS_CLIENT_TIMEOUT": "5"}
    )
    assert (read.rate_limit, read.auth_failure_limit, read.client_timeout_s) == (50.5, None, 5)
    assert Settings.from_env({"ORG_AGENTS_RATE_LIMIT": "off"}).rate_limit is None


def test_audit_events_are_kept_forever_and_the_webhook_log_30_days_unless_told_otherwise() -> None:
    default = Settings.from_env({})
    assert (default.audit_retention_days, default.webhook_log_days) == (None, 30)
    read = Settings.from_env({"ORG_AGENTS_AUDIT_RETENTION_DAYS": "400", "ORG_AGENTS_WEBHOOK_LOG_DAYS": "7"})
    assert (read.audit_retention_days, read.webhook_log_days) == (400, 7)


QUOTAS = ("ORG_AGENTS_QUOTA_AGENTS", "ORG_AGENTS_QUOTA_VERSIONS", "ORG_AGENTS_QUOTA_MB")


def test_the_quotas_default_to_the_generous_ones_and_are_read_in_agents_versions_and_megabytes() -> None:
    assert quotas_of(Settings.from_env({})) == Quotas()
    settings = Settings.from_env(dict(zip(QUOTAS, ("25", " 1000 ", "3"), strict=True)))

    assert (settings.quota_agents, settings.quota_versions, settings.quota_mb) == (25, 1000, 3)
    assert quotas_of(settings) == Quotas(agents=25, versions=1000, stored_bytes=3 * MIB)
    assert memory_deps(settings=settings).quotas == quotas_of(settings)


@pytest.mark.parametrize("name", QUOTAS)
@pytest.mark.parametrize("value", ["0", "-1", "1.5", "lots", "1e6", "\u0663", "1000000000001"])
def test_a_quota_that_is_not_a_positive_integer_is_refused_in_one_line_naming_it(name: str, value: str) -> None:
    with pytest.raises(SettingsError) as refused:
        Settings.from_env({name: value})

    assert str(refused.value).startswith(f"{name} must be a positive integer")
    assert "\n" not in str(refused.value)


def test_the_live_caches_settings_are_read_and_default_to_a_bounded_token_lifetime_and_the_hot_path_on() -> None:
    defaults = Settings.from_env({})
    assert (defaults.live_cache_mb, defaults.token_cache_s, defaults.hot_path) == (64, 30.0, True)
    assert 0 < defaults.token_cache_s <= 60

    chosen = Settings.from_env({"ORG_AGENTS_TOKEN_CACHE_S": "2.5", "ORG_AGENTS_HOT_PATH": "off"})
    assert (chosen.token_cache_s, chosen.hot_path) == (2.5, False)
    assert Settings.from_env({"ORG_AGENTS_HOT_PATH": "TRUE"}).hot_path is True
    assert Settings.from_env({"ORG_AGENTS_HOT_PATH": "0"}).hot_path is False


def test_the_watchers_bound_is_read_and_reaches_the_live_cache(tmp_path: Path) -> None:
    assert Settings.from_env({}).max_watchers == 10_000
    chosen = Settings.from_env({"ORG_AGENTS_MAX_WATCHERS": "250", "ORG_AGENTS_DATA_DIR": str(tmp_path)})
    assert chosen.max_watchers == 250
    assert live_cache_of(chosen).max_watchers == 250
    assert Settings.from_env({"ORG_AGENTS_MAX_WATCHERS": "0"}).max_watchers == 0  # every watch answered at once


# -- sign-in with an identity provider ----------------------------------------------------------------------------

JWT_SECRET = "s" * 32
SIGN_IN = {"ORG_AGENTS_JWT_ISSUER": "https://id.example.test/", "ORG_AGENTS_JWT_AUDIENCE": "org-agents"}


def test_sign_in_is_off_unless_a_secret_or_a_jwks_is_given() -> None:
    assert Settings.from_env({}).sign_in is None
    assert identity_of(Settings.from_env({})) is None
    assert Settings.from_env({"ORG_AGENTS_JWT_HS256_SECRET": ""}).sign_in is None


def test_a_shared_secret_turns_sign_in_on_with_the_default_claims_and_leeway() -> None:
    sign_in = Settings.from_env({"ORG_AGENTS_JWT_HS256_SECRET": JWT_SECRET}).sign_in

    assert sign_in is not None
    assert sign_in.hs256_secret == JWT_SECRET
    assert (sign_in.issuer, sign_in.audience, sign_in.jwks_url, sign_in.jwks_file) == (None, None, None, None)
    assert (sign_in.org_claim, sign_in.user_claim, sign_in.role_claim, sign_in.leeway_s) == ("org", "sub", "role", 30)
    assert JWT_SECRET not in repr(Settings.from_env({"ORG_AGENTS_JWT_HS256_SECRET": JWT_SECRET}))
    assert identity_of(Settings.from_env({"ORG_AGENTS_JWT_HS256_SECRET": JWT_SECRET})) is not None


def test_claim_names_leeway_issuer_and_audience_are_read() -> None:
    sign_in = Settings.from_env(
        {
            "ORG_AGENTS_JWT_HS256_SECRET": JWT_SECRET,
            "ORG_AGENTS_JWT_ORG_CLAIM": "https://example.test/org",
            "ORG_AGENTS_JWT_USER_CLAIM": "email",
            "ORG_AGENTS_JWT_ROLE_CLAIM": "app_role",
            "ORG_AGENTS_JWT_LEEWAY": "5",
            **SIGN_IN,
        }
    ).sign_in

    assert sign_in is not None
    assert (sign_in.org_claim, sign_in.user_claim) == ("https://example.test/org", "email")
    assert sign_in.role_claim == "app_role"
    assert (sign_in.leeway_s, sign_in.issuer, sign_in.audience) == (5, "https://id.example.test/", "org-agents")


@pytest.mark.parametrize(
    ("jwks", "url"),
    [
        ("https://id.example.test/.well-known/jwks.json", True),
        ("http://127.0.0.1:8080/jwks.json", True),
        ("http://localhost/jwks.json", True),
        ("http://[::1]:9000/jwks.json", True),
        ("/etc/org-agents/jwks.json", False),
        ("jwks.json", False),
    ],
)
def test_a_jwks_is_an_https_url_a_loopback_http_url_or_a_file(jwks: str, url: bool) -> None:
    sign_in = Settings.from_env({"ORG_AGENTS_JWT_JWKS": jwks, **SIGN_IN}).sign_in

    assert sign_in is not None
    assert (sign_in.jwks_url, sign_in.jwks_file) == ((jwks, None) if url else (None, Path(jwks)))


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"ORG_AGENTS_JWT_ISSUER": "https://id.example.test/"}, "ORG_AGENTS_JWT_ISSUER is set, but sign-in needs"),
        ({"ORG_AGENTS_JWT_ROLE_CLAIM": "roles"}, "ORG_AGENTS_JWT_ROLE_CLAIM is set, but sign-in needs"),
        ({"ORG_AGENTS_JWT_HS256_SECRET": JWT_SECRET, "ORG_AGENTS_JWT_JWKS": "/k.json", **SIGN_IN}, "not both"),
        ({"ORG_AGENTS_JWT_HS256_SECRET": "short"}, "ORG_AGENTS_JWT_HS256_SECRET must be at least 32 bytes"),
        ({"ORG_AGENTS_JWT_JWKS": "/k.json"}, "ORG_AGENTS_JWT_JWKS needs ORG_AGENTS_JWT_ISSUER and"),
        (
            {"ORG_AGENTS_JWT_JWKS": "/k.json", "ORG_AGENTS_JWT_ISSUER": "https://id.example.test/"},
            "ORG_AGENTS_JWT_AUDIENCE",
        ),
        ({"ORG_AGENTS_JWT_JWKS": "http://id.example.test/jwks.json", **SIGN_IN}, "must be an https URL"),
        ({"ORG_AGENTS_JWT_JWKS": "http://10.0.0.1/jwks.json", **SIGN_IN}, "only to a loopback address"),
        ({"ORG_AGENTS_JWT_JWKS": "ftp://id.example.test/jwks.json", **SIGN_IN}, "must be an https URL"),
        ({"ORG_AGENTS_JWT_JWKS": "https:///jwks.json", **SIGN_IN}, "must be an https URL"),
        ({"ORG_AGENTS_JWT_HS256_SECRET": JWT_SECRET, "ORG_AGENTS_JWT_LEEWAY": "-1"}, "at least 0"),
        ({"ORG_AGENTS_JWT_HS256_SECRET": JWT_SECRET, "ORG_AGENTS_JWT_LEEWAY": "301"}, "at most 300"),
        ({"ORG_AGENTS_JWT_HS256_SECRET": JWT_SECRET, "ORG_AGENTS_JWT_LEEWAY": "a bit"}, "must be a number"),
        ({"ORG_AGENTS_JWT_HS256_SECRET": JWT_SECRET, "ORG_AGENTS_JWT_ORG_CLAIM": "  "}, "must name a claim"),
    ],
)
def test_a_bad_sign_in_combination_is_refused_in_one_line_naming_the_variable(env: dict[str, str], named: str) -> None:
    with pytest.raises(SettingsError, match=named) as refused:
        Settings.from_env(env)

    assert "\n" not in str(refused.value)


def test_a_jwks_file_is_read_when_the_identity_provider_is_made_and_a_bad_one_names_the_variable(
    tmp_path: Path,
) -> None:
    path = tmp_path / "jwks.json"
    settings = Settings.from_env({"ORG_AGENTS_JWT_JWKS": str(path), **SIGN_IN})

    with pytest.raises(SettingsError, match=f"ORG_AGENTS_JWT_JWKS: cannot read {path}"):
        identity_of(settings)
    path.write_text('{"keys": []}')
    with pytest.raises(SettingsError, match=r"ORG_AGENTS_JWT_JWKS: .* did not contain any keys"):
        identity_of(settings)
    path.write_text(json.dumps(SigningKeys().jwks()))
    assert identity_of(settings) is not None


def test_pgbouncer_and_a_direct_listen_url_are_read_and_checked(tmp_path: Path) -> None:
    read = Settings.from_env({"ORG_AGENTS_PGBOUNCER": "1", "ORG_AGENTS_LISTEN_URL": "postgresql://db:5432/oa"})
    assert (read.pgbouncer, read.listen_url) == (True, "postgresql://db:5432/oa")
    assert (Settings.from_env({}).pgbouncer, Settings.from_env({}).listen_url) == (False, None)
    with (
        pytest.raises(SettingsError, match="ORG_AGENTS_PGBOUNCER=1 needs a DATABASE_URL"),
        database(Settings(data_dir=tmp_path, pgbouncer=True)),
    ):
        pass
    malformed = Settings(data_dir=tmp_path, database_url="postgresql://db/oa", listen_url="nonsense")
    with (
        pytest.raises(SettingsError, match="ORG_AGENTS_LISTEN_URL is not a PostgreSQL connection string"),
        database(malformed),
    ):
        pass
