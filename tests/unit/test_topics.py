import re

import pytest

from streams.sectors import ALL, SECTORS
from streams.settings import Settings
from streams.tlp import TLP
from streams.topics import Topics


def test_plan_names_are_unique_and_safe():
    plan = Topics("kizuna").plan(Settings())
    names = [spec.name for spec in plan]
    assert len(names) == len(set(names))
    for name in names:
        assert re.fullmatch(r"[a-z0-9._-]+", name), name


def test_share_topics_cover_every_level_and_sector_but_red():
    shares = Topics("kizuna").share_topics()
    assert len(shares) == 4 * (len(SECTORS) + 1)
    assert "kizuna.share.amber-strict.finance" in shares
    assert "kizuna.share.green.all" in shares
    assert not any(".red." in name for name in shares)


def test_red_never_gets_a_sector_topic():
    with pytest.raises(ValueError, match="never published"):
        Topics("kizuna").share(TLP.RED, "finance")


def test_unknown_sector_has_no_topic():
    with pytest.raises(ValueError, match="unknown sector"):
        Topics("kizuna").share(TLP.GREEN, "casino")


def test_share_topics_are_compacted():
    plan = {spec.name: spec for spec in Topics("kizuna").plan(Settings())}
    assert plan[Topics("kizuna").share(TLP.GREEN, ALL)].config["cleanup.policy"] == "compact"
    assert plan["kizuna.merge-state"].config["cleanup.policy"] == "compact"
