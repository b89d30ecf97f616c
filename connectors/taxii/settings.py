"""Typed settings of the TAXII 2.1 connector: `KIZUNA_TAXII_*` variables (sample in
connectors/taxii/kizuna-taxii.env.sample). The hub's own settings (namespace, Kafka, members)
stay in streams.settings; this file reads only what the TAXII server and poller add."""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from streams.settings import Settings, validated

ENV_PREFIX = "KIZUNA_TAXII_"


class TaxiiSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, env_file=None, extra="ignore")

    host: str = Field("127.0.0.1", description="Address the TAXII server listens on.")
    port: int = Field(9470, ge=1, le=65535, description="Port the TAXII server listens on.")
    tls: bool = Field(True, description="Serve HTTPS (the default). false only behind a TLS-terminating proxy "
                                        "(then set public_url to its https:// URL) or for development.")
    tls_cert_file: Path | None = Field(
        None, description="The server's certificate chain, PEM (an operator's own). "
                          "Default: a certificate from the hub's local CA, var/secrets/tls/taxii.crt, "
                          "for host and localhost.")
    tls_key_file: Path | None = Field(None, description="Private key of tls_cert_file, PEM.")
    allow_plain_http: bool = Field(
        False, description="Development only: accept members' credentials over plain HTTP "
                           "(they cross the network in clear).")
    public_url: str | None = Field(
        None,
        description="Base URL clients use to reach the server (behind a proxy); default: taken from each request.")
    store_url: str | None = Field(
        None, description="Object store: sqlite:///PATH or postgresql://user:pass@host/db. "
                          "Default: sqlite:///<KIZUNA_VAR_DIR>/taxii/store.db.")
    page_size_max: int = Field(1000, ge=1, le=100_000,
                               description="Most objects per page; also the page size when a client asks for none.")
    access_cache_s: float = Field(30.0, ge=0, le=3600,
                                  description="How long a member's readable collections are cached (tier changes show "
                                              "after this).")
    metrics_port: int = Field(9465, ge=0, le=65535, description="Port of the server's Prometheus /metrics; 0 disables.")
    poll_interval_s: float = Field(300.0, ge=1, le=86_400,
                                   description="Seconds between polls of `kizuna taxii poll --follow`.")
    poll_page_size: int = Field(1000, ge=1, le=100_000,
                                description="Objects the poller asks a remote server for per page.")
    state_dir: Path | None = Field(None, description="Where the poller keeps its positions. Default: "
                                                     "<KIZUNA_VAR_DIR>/taxii.")
    remote_user: str | None = Field(None, description="User name for HTTP Basic on the remote TAXII server the poller "
                                                      "reads.")
    remote_password: SecretStr | None = Field(None, description="Password for HTTP Basic on the remote TAXII server.")
    remote_token: SecretStr | None = Field(None, description="Token for the remote TAXII server (`Authorization: "
                                                             "Token ...`), instead of Basic.")

    @field_validator("store_url")
    @classmethod
    def _store_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("sqlite:///", "postgresql://", "postgres://")):
            raise ValueError(f"expected sqlite:///PATH or postgresql://..., got {value.split('://')[0]!r}://...")
        return value

    @field_validator("public_url")
    @classmethod
    def _public_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("expected an http:// or https:// URL")
        return value.rstrip("/") if value else value

    @model_validator(mode="after")
    def _tls_pair(self) -> TaxiiSettings:
        if (self.tls_cert_file is None) != (self.tls_key_file is None):
            raise ValueError("set both TLS_CERT_FILE and TLS_KEY_FILE, or neither (the local CA's certificate)")
        return self

    def plain_http_ok(self) -> bool:
        """Whether credentials may arrive over plain HTTP: TLS ends at a proxy in front, or development."""
        return self.allow_plain_http or (self.public_url or "").startswith("https://")

    def store_location(self, hub: Settings) -> str:
        """The store URL, the default one under the hub's var directory."""
        return self.store_url or f"sqlite:///{hub.var_dir / 'taxii' / 'store.db'}"

    def positions_dir(self, hub: Settings) -> Path:
        return self.state_dir or hub.var_dir / "taxii"


@lru_cache(maxsize=1)
def get_taxii_settings() -> TaxiiSettings:
    """Settings from the environment, validated once; raises ConfigError with the variable name."""
    return validated(TaxiiSettings, ENV_PREFIX)
