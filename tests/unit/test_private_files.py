"""Secrets and the members registry: written whole, 0600 from the first byte, and never into the checkout."""
from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import pytest

from streams import credentials, members
from streams.settings import MEMBERS_SAMPLE, ROOT, ConfigError, Settings, write_private


@pytest.fixture(autouse=True)
def _defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests are about the defaults: nothing from the caller's environment."""
    for name in ("KIZUNA_PSEUDONYM_KEY", "KIZUNA_MEMBERS_FILE", "KIZUNA_VAR_DIR", "KIZUNA_CREDENTIALS_FILE"):
        monkeypatch.delenv(name, raising=False)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_write_private_is_0600_whole_and_leaves_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "secrets" / "x.password"
    assert write_private(target, "first")
    assert target.read_text() == "first" and mode(target) == 0o600 and mode(target.parent) == 0o700
    assert not write_private(target, "second", replace=False)  # create-once: the first writer wins
    assert target.read_text() == "first"
    assert write_private(target, "third") and target.read_text() == "third" and mode(target) == 0o600
    assert sorted(p.name for p in target.parent.iterdir()) == ["x.password"]


def test_the_pseudonym_key_is_created_once_0600(tmp_path: Path) -> None:
    settings = Settings(var_dir=tmp_path)
    key = settings.pseudonym_secret()
    assert Settings(var_dir=tmp_path).pseudonym_secret() == key
    assert mode(tmp_path / "secrets" / "pseudonym.key") == 0o600


def test_issued_credentials_are_0600_and_reread_only_when_changed(tmp_path: Path) -> None:
    # SCRAM only: no local CA in tmp_path to copy into the file (tests/security/test_tls.py covers that)
    settings = Settings(var_dir=tmp_path, pseudonym_key="k", kafka_security="sasl_plaintext")
    first = credentials.issue(settings, "acme")
    assert mode(credentials.path(settings, "acme")) == 0o600
    assert credentials.load(settings, "acme") == first
    before = credentials._parse.cache_info().hits
    assert credentials.load(settings, "acme") == first  # the TAXII server's case: no re-read, no re-parse
    assert credentials._parse.cache_info().hits == before + 1
    second = credentials.issue(settings, "acme")  # re-issued: the change is seen at once
    assert second.token != first.token and credentials.load(settings, "acme") == second


def test_the_members_registry_is_state_under_var_seeded_from_the_sample(tmp_path: Path) -> None:
    checkout = subprocess.run(["git", "status", "--porcelain"], cwd=ROOT, capture_output=True, text=True).stdout
    settings = Settings(var_dir=tmp_path, pseudonym_key="k")
    assert settings.members_file == tmp_path / "members.yaml" and not settings.members_file.exists()
    registry = members.load(settings.members_file)  # first use
    assert settings.members_file.read_text() == MEMBERS_SAMPLE.read_text()
    members.save(settings.members_file, members.Registry(members=registry.members[1:]))
    assert members.load(settings.members_file).members == registry.members[1:]
    assert Settings(var_dir=tmp_path, pseudonym_key="k").members_file.read_text() != MEMBERS_SAMPLE.read_text()
    assert subprocess.run(["git", "status", "--porcelain"], cwd=ROOT, capture_output=True, text=True).stdout == checkout


def test_a_registry_named_explicitly_is_never_created(tmp_path: Path) -> None:
    settings = Settings(var_dir=tmp_path, pseudonym_key="k", members_file=tmp_path / "typo.yaml")
    with pytest.raises(ConfigError, match="typo.yaml not found"):
        members.load(settings.members_file)
    assert os.listdir(tmp_path) == []
