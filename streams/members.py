"""The members registry: who may submit and give feedback, their sectors, tier and default TLP.

A YAML file is the source of truth (`KIZUNA_MEMBERS_FILE`, sample in
deploy/members.yaml). The hub never publishes member ids: records carry
pseudonyms (streams.core.normalize.pseudonym).
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, Field, ValidationError, field_validator

from streams.sectors import canonical_sector
from streams.settings import ConfigError
from streams.tlp import parse_level

Tier = Literal["auto", "contributor", "general"]


class Member(BaseModel):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{1,62}$", description="Member id, also its inbox topic name part.")
    name: str = Field("", description="Display name; never leaves the hub unless consent_named.")
    sectors: list[str] = Field(default_factory=list)
    tier: Tier = Field("auto", description="auto: the tier follows standing (contributions in the window); "
                                           "contributor or general: pinned by the operator.")
    default_tlp: str | None = Field(None, description="TLP for submissions and feedback that carry none.")
    consent_named: bool = Field(False, description="May records name this member as their source?")

    @field_validator("sectors")
    @classmethod
    def _sectors(cls, value: list[str]) -> list[str]:
        out = []
        for name in value:
            sector = canonical_sector(name)
            if sector is None:
                raise ValueError(f"unknown sector {name!r}")
            out.append(sector)
        return out

    @field_validator("default_tlp")
    @classmethod
    def _tlp(cls, value: str | None) -> str | None:
        if value is not None and parse_level(value) is None:
            raise ValueError(f"unknown TLP {value!r}")
        return value


class Registry(BaseModel):
    members: list[Member]

    def get(self, member_id: str) -> Member | None:
        return next((m for m in self.members if m.id == member_id), None)


@lru_cache(maxsize=8)
def load(path: Path) -> Registry:
    """The registry at `path`; raises ConfigError naming the file and the problem."""
    try:
        data = yaml.safe_load(path.read_text())
        return Registry.model_validate(data or {"members": []})
    except FileNotFoundError:
        raise ConfigError(f"members file {path} not found (KIZUNA_MEMBERS_FILE)") from None
    except (yaml.YAMLError, ValidationError) as exc:
        raise ConfigError(f"members file {path}: {exc}") from None
