"""The TAXII connector's typed settings: bad values name their variable; the sample and the README
list every one."""
from __future__ import annotations

import pytest

from connectors.taxii.settings import ENV_PREFIX, TaxiiSettings, get_taxii_settings
from streams.settings import ROOT, ConfigError, Settings

HERE = ROOT / "connectors" / "taxii"


@pytest.mark.parametrize(("variable", "value"), [("PORT", "zero"), ("STORE_URL", "mysql://db/taxii"),
                                                 ("PAGE_SIZE_MAX", "0"), ("PUBLIC_URL", "taxii.example.org")])
def test_bad_config_names_the_variable(monkeypatch, variable, value):
    monkeypatch.setenv(ENV_PREFIX + variable, value)
    get_taxii_settings.cache_clear()
    try:
        with pytest.raises(ConfigError, match=ENV_PREFIX + variable):
            get_taxii_settings()
    finally:
        get_taxii_settings.cache_clear()


def test_defaults_live_under_the_hubs_var_directory(tmp_path):
    taxii, hub = TaxiiSettings(), Settings(var_dir=tmp_path)
    assert taxii.store_location(hub) == f"sqlite:///{tmp_path}/taxii/store.db"
    assert taxii.positions_dir(hub) == tmp_path / "taxii"
    assert TaxiiSettings(store_url="postgresql://k@db/taxii").store_location(hub) == "postgresql://k@db/taxii"


@pytest.mark.parametrize("document", ["kizuna-taxii.env.sample", "README.md"])
def test_sample_and_readme_list_every_setting(document):
    text = (HERE / document).read_text()
    for name in TaxiiSettings.model_fields:
        assert f"{ENV_PREFIX}{name.upper()}" in text, name
