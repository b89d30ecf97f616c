"""Typed settings of the vulnerability pollers: `KIZUNA_VULNS_*` variables (table in the README).
The hub's own settings (namespace, Kafka) stay in streams.settings."""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from streams.settings import validated

ENV_PREFIX = "KIZUNA_VULNS_"


class VulnSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, env_file=None, extra="ignore")

    sources: list[str] = Field(["kev", "nvd", "jvn", "csaf"], description="Sources to poll: kev, nvd, jvn, csaf.")
    kev_url: str = Field("https://www.cisa.gov/sites/default/files/feeds/known_exploited_vulnerabilities.json",
                         description="CISA's Known Exploited Vulnerabilities catalogue (JSON).")
    nvd_url: str = Field("https://services.nvd.nist.gov/rest/json/cves/2.0", description="NVD CVE API 2.0 endpoint.")
    nvd_api_key: SecretStr | None = Field(None, description="NVD API key (sent as the apiKey header): 50 instead of 5 "
                                                            "requests per 30 s.")
    nvd_window_days: int = Field(120, ge=1, le=120, description="Longest lastModStartDate..EndDate window per query "
                                                                "(the API allows 120 days).")
    nvd_page_size: int = Field(2000, ge=1, le=2000,
                               description="resultsPerPage of NVD queries (the API's maximum is 2000).")
    nvd_backfill_days: int = Field(1, ge=0, le=36500,
                                   description="On the first run, changes of this many past days are read.")
    myjvn_url: str = Field("https://jvndb.jvn.jp/myjvn", description="MyJVN API endpoint (getVulnOverviewList, "
                                                                     "getVulnDetailInfo).")
    jvn_rss_urls: list[str] = Field(["https://jvndb.jvn.jp/ja/rss/jvndb_new.rdf", "https://jvndb.jvn.jp/ja/rss/jvndb.rdf"],
                                    description="JVNDB RSS 1.0 feeds (new and updated entries) read between API polls.")
    jvn_lang: str = Field("ja", pattern="^(ja|en)$", description="Language MyJVN answers in: ja (Japanese) or en.")
    jvn_page_size: int = Field(50, ge=1, le=50,
                               description="maxCountItem of getVulnOverviewList (the API's maximum is 50).")
    csaf_urls: list[str] = Field([], description="CSAF 2.0 sources: a provider directory holding changes.csv, or one "
                                                 "document's URL (.json).")
    poll_interval_s: float = Field(900, ge=1, description="Seconds between polls of each source.")
    min_interval_s: float = Field(6.0, ge=0, description="Least seconds between two requests to one host (NVD without "
                                                         "a key: 6 s; with a key 0.6 s is enough).")
    retries: int = Field(5, ge=0, le=20, description="Retries of a failed request (timeouts, 429, 5xx) before the poll "
                                                     "gives up until the next one.")
    backoff_s: float = Field(2.0, gt=0, le=600, description="First retry wait, doubled each time (Retry-After wins).")
    timeout_s: float = Field(60.0, gt=0, le=600, description="Longest wait for one response, seconds.")
    max_bytes: int = Field(256 * 1024 * 1024, ge=1024, description="Largest response body accepted.")
    state_file: Path | None = Field(None, description="Where positions and validators (ETag, Last-Modified) are kept. "
                                                      "Default: <KIZUNA_VAR_DIR>/state/<namespace>/vulns.json.")

    @field_validator("sources")
    @classmethod
    def _sources(cls, value: list[str]) -> list[str]:
        unknown = sorted(set(value) - {"kev", "nvd", "jvn", "csaf"})
        if unknown:
            raise ValueError(f"unknown source(s) {', '.join(unknown)}: choose from kev, nvd, jvn, csaf")
        return value

    @field_validator("kev_url", "nvd_url", "myjvn_url")
    @classmethod
    def _url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("expected an http:// or https:// URL")
        return value


@lru_cache(maxsize=1)
def get_vuln_settings() -> VulnSettings:
    return validated(VulnSettings, ENV_PREFIX)
