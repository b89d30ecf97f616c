import pytest

from streams.tlp import TLP, from_marking_ref, most_restrictive, parse_level


@pytest.mark.parametrize(
    ("text", "level"),
    [("TLP:CLEAR", TLP.CLEAR), ("tlp:white", TLP.CLEAR), ("green", TLP.GREEN), ("TLP:AMBER+STRICT", TLP.AMBER_STRICT),
     ("amber-strict", TLP.AMBER_STRICT), ("tlp:red", TLP.RED), ("tlp:ex:chr", None), ("", None), ("purple", None)],
)
def test_parse_level(text, level):
    assert parse_level(text) == level


def test_marking_ids_v1_and_v2():
    assert from_marking_ref("marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da") is TLP.GREEN
    assert from_marking_ref("marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421") is TLP.AMBER
    assert from_marking_ref("marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9") is TLP.CLEAR
    assert from_marking_ref("marking-definition--00000000-0000-4000-8000-000000000000") is None
    for level in TLP:
        assert from_marking_ref(level.marking_id) is level


def test_mix_resolves_to_most_restrictive():
    assert most_restrictive([TLP.GREEN, TLP.AMBER, TLP.CLEAR]) is TLP.AMBER
    assert most_restrictive([]) is None


def test_slugs_are_topic_safe():
    assert [level.slug for level in TLP] == ["clear", "green", "amber", "amber-strict", "red"]
