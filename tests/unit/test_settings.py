import pytest

from streams.settings import ConfigError, Settings, get_settings


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [("KIZUNA_PARTITIONS", "zero", "KIZUNA_PARTITIONS"), ("KIZUNA_BOOTSTRAP_SERVERS", "localhost", "host:port"),
     ("KIZUNA_STORE", "redis", "KIZUNA_STORE")],
)
def test_bad_config_names_the_variable(monkeypatch, variable, value, message):
    monkeypatch.setenv(variable, value)
    get_settings.cache_clear()
    try:
        with pytest.raises(ConfigError, match=message):
            get_settings()
    finally:
        get_settings.cache_clear()


def test_pseudonym_key_created_once(tmp_path):
    settings = Settings(var_dir=tmp_path)
    first = settings.pseudonym_secret()
    assert len(first) == 64
    assert settings.pseudonym_secret() == first
    assert (tmp_path / "secrets" / "pseudonym.key").stat().st_mode & 0o077 == 0


def test_sample_config_lists_every_setting():
    from streams.settings import ROOT

    sample = (ROOT / "deploy" / "kizuna.env.sample").read_text()
    for name in Settings.model_fields:
        assert f"KIZUNA_{name.upper()}=" in sample, name
