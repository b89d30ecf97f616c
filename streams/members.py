"""The members registry: who may submit and give feedback, their sectors, tier and default TLP.

A YAML file is the source of truth (`KIZUNA_MEMBERS_FILE`, default var/members.yaml, seeded from
deploy/members.sample.yaml). The hub never publishes member ids: records carry
pseudonyms (streams.core.normalize.pseudonym).
"""
from __future__ import annotations

import os
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, Field, PrivateAttr, ValidationError, field_validator

from streams.sectors import canonical_sector
from streams.settings import MEMBERS_SAMPLE, SEEDABLE_REGISTRIES, ConfigError, write_private
from streams.tlp import TLP, parse_level

Tier = Literal["auto", "contributor", "general"]


class Member(BaseModel):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{1,62}$", description="Member id, also its inbox topic name part.")
    name: str = Field("", description="Display name; never leaves the hub unless consent_named.")
    sectors: list[str] = Field(default_factory=list)
    tier: Tier = Field("auto", description="auto: the tier follows standing (contributions in the window); "
                                           "contributor or general: pinned by the operator.")
    default_tlp: str | None = Field(None, description="TLP for submissions and feedback that carry none.")
    consent_named: bool = Field(False, description="May records name this member as their source?")
    max_tlp: str = Field("amber-strict", validate_default=True,
                         description="Highest TLP of the sector topics this member is entitled to read "
                                                     "(clear, green, amber, amber+strict); RED only ever reaches "
                                                     "inboxes.")

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

    @field_validator("max_tlp")
    @classmethod
    def _max_tlp(cls, value: str) -> str:
        level = parse_level(value)
        if level is None or level == TLP.RED:
            raise ValueError(f"max_tlp must be clear, green, amber or amber+strict, not {value!r}")
        return level.slug

    @property
    def clearance(self) -> TLP:
        return TLP.from_slug(self.max_tlp)


class Registry(BaseModel):
    members: list[Member]

    def get(self, member_id: str) -> Member | None:
        if self._by_id is None:  # asked for every feedback item and submission: one lookup, not a scan
            self._by_id = {m.id: m for m in self.members}
        return self._by_id.get(member_id)

    def by_alias(self, alias: Callable[[str], str]) -> dict[str, str]:
        """pseudonym -> member id, to deliver members their own rejections and audit trail; computed once."""
        if self._aliases is None:
            self._aliases = {alias(m.id): m.id for m in self.members}
        return self._aliases

    _aliases: dict[str, str] | None = PrivateAttr(None)
    _by_id: dict[str, Member] | None = PrivateAttr(None)


def load(path: Path) -> Registry:
    """The registry at `path` as it is now (re-read when the file changes, so `kizuna members add`
    reaches running workers); raises ConfigError naming the file and the problem."""
    if path in SEEDABLE_REGISTRIES and not path.exists():  # first use: runtime state starts as the sample
        write_private(path, MEMBERS_SAMPLE.read_text(), replace=False)
    try:
        stamp = os.stat(path).st_mtime_ns
    except FileNotFoundError:
        raise ConfigError(f"members file {path} not found (KIZUNA_MEMBERS_FILE)") from None
    return _parse(path, stamp)


@lru_cache(maxsize=8)
def _parse(path: Path, stamp: int) -> Registry:
    try:
        data = yaml.safe_load(path.read_text())
        registry = Registry.model_validate(data or {"members": []})
    except (yaml.YAMLError, ValidationError) as exc:
        raise ConfigError(f"members file {path}: {exc}") from None
    ids = [m.id for m in registry.members]
    if len(ids) != len(set(ids)):
        raise ConfigError(f"members file {path}: member ids must be unique")
    return registry


def save(path: Path, registry: Registry) -> None:
    """Write the registry back (atomically); comments other than the header are not kept."""
    header = "# Members of this hub (KIZUNA_MEMBERS_FILE), managed with `kizuna members add|remove`.\n"
    body = yaml.safe_dump({"members": [m.model_dump(exclude_defaults=True) for m in registry.members]},
                          sort_keys=False, allow_unicode=True)
    write_private(path, header + body)
