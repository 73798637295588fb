import os
from pathlib import Path

import pytest

from entrypoints.bootstrap import live_cache_of
from entrypoints.settings import Settings, SettingsError, default_data_dir


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
    ],
)
def test_an_unusable_value_is_refused_with_its_name(env: dict[str, str], named: str) -> None:
    with pytest.raises(SettingsError, match=named):
        Settings.from_env(env)


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
