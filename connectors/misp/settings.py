"""Typed settings of the MISP connector: `KIZUNA_MISP_*` variables (sample in
connectors/misp/kizuna-misp.env.sample). The hub's own settings (namespace, Kafka, members)
stay in streams.settings; this file reads only what the MISP importer and feed add."""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from streams.settings import Settings, validated
from streams.tlp import parse_level

ENV_PREFIX = "KIZUNA_MISP_"


class MispSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, env_file=None, extra="ignore")

    url: str | None = Field(None, description="Base URL of the MISP instance the REST import reads "
                                              "(https://misp.example.org).")
    key: SecretStr | None = Field(None, description="API key of a MISP user allowed to read the events to import.")
    verify_tls: bool = Field(True, description="Check the MISP instance's TLS certificate; turn off only for a lab "
                                               "instance.")
    ca_file: Path | None = Field(None, description="CA bundle that signs the MISP instance's certificate, instead of "
                                                   "the system's.")
    timeout_s: float = Field(60.0, gt=0, le=3600, description="Longest wait for one MISP REST response, seconds.")
    page_size: int = Field(50, ge=1, le=10_000, description="Events per REST search page.")
    published_only: bool = Field(True, description="Import only published events (what MISP itself would sync).")
    default_tlp: str | None = Field(
        None, description="TLP given with every import: it applies where an event has neither a tlp: tag nor a "
                          "distribution level, and narrows every other event to at most this level.")
    feed_dir: Path | None = Field(None, description="Where `kizuna misp feed` writes. Default: "
                                                    "<KIZUNA_VAR_DIR>/misp-feed/<member>.")
    state_dir: Path | None = Field(None, description="Where the REST import keeps its position. Default: "
                                                     "<KIZUNA_VAR_DIR>/misp.")
    zmq_url: str | None = Field(None, description="MISP's ZeroMQ publisher to follow (tcp://misp.example.org:50000).")

    @field_validator("url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("expected an http:// or https:// URL")
        return value.rstrip("/") if value else value

    @field_validator("zmq_url")
    @classmethod
    def _zmq_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("tcp://", "ipc://")):
            raise ValueError("expected tcp://host:port or ipc://path")
        return value

    @field_validator("default_tlp")
    @classmethod
    def _tlp(cls, value: str | None) -> str | None:
        if value is not None and parse_level(value) is None:
            raise ValueError("expected a TLP level: clear, green, amber, amber+strict or red")
        return value

    def feed_location(self, hub: Settings, member: str) -> Path:
        return self.feed_dir or hub.var_dir / "misp-feed" / member

    def positions_dir(self, hub: Settings) -> Path:
        return self.state_dir or hub.var_dir / "misp"

    def verify(self) -> bool | str:
        """What requests (under PyMISP) takes as `verify`: a CA bundle path, or whether to check."""
        return str(self.ca_file) if self.ca_file is not None else self.verify_tls


@lru_cache(maxsize=1)
def get_misp_settings() -> MispSettings:
    """Settings from the environment, validated once; raises ConfigError with the variable name."""
    return validated(MispSettings, ENV_PREFIX)
