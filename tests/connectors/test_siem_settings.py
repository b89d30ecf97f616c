"""SIEM settings: `KIZUNA_SIEM_*` variables, a bad one refused at start-up naming the variable."""
from __future__ import annotations

import pytest

from connectors.siem.settings import SID_SPAN, get_siem_settings
from streams.settings import ConfigError, Settings


@pytest.fixture(autouse=True)
def fresh():
    get_siem_settings.cache_clear()
    yield
    get_siem_settings.cache_clear()


def test_defaults_and_the_output_directory(monkeypatch, tmp_path):
    monkeypatch.setenv("KIZUNA_SIEM_SYSLOG", "udp://[::1]:514")
    siem = get_siem_settings()
    assert siem.syslog == "udp://[::1]:514" and siem.block_unconfirmed is False
    assert siem.sid_base + SID_SPAN - 1 <= 2**32 - 1  # every derived sid fits Suricata's 32 bits
    assert siem.output_dir(Settings(var_dir=tmp_path), "acme") == tmp_path / "siem" / "acme"


@pytest.mark.parametrize(("variable", "value", "says"), [
    ("KIZUNA_SIEM_SYSLOG", "syslog.example:514",
     "KIZUNA_SIEM_SYSLOG: Value error, expected tls://host:port, tcp://host:port"),
    ("KIZUNA_SIEM_SYSLOG_FACILITY", "24", "KIZUNA_SIEM_SYSLOG_FACILITY: Input should be less than or equal to 23"),
    ("KIZUNA_SIEM_SYSLOG_HOSTNAME", "two words", "KIZUNA_SIEM_SYSLOG_HOSTNAME: String should match pattern"),
    ("KIZUNA_SIEM_SID_BASE", str(2**32 - SID_SPAN), "KIZUNA_SIEM_SID_BASE: Input should be less than or equal to"),
    ("KIZUNA_SIEM_BLOCK_UNCONFIRMED", "perhaps", "KIZUNA_SIEM_BLOCK_UNCONFIRMED: Input should be a valid boolean"),
])
def test_bad_values_name_the_variable(monkeypatch, variable, value, says):
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError, match=says.replace("(", r"\(")):
        get_siem_settings()
