"""The compiled core is used only when it was built from the sources as they are now."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from streams import native


@pytest.fixture
def tree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the compiled modules' sources, with a (stand-in) build of them."""
    for module in native.MODULES:
        (tmp_path / module).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(native.ROOT / module, tmp_path / module)
    monkeypatch.setattr(native, "ROOT", tmp_path)
    monkeypatch.setattr(native, "BUILD", tmp_path / "build" / "native")
    built = native.BUILD / native.fingerprint()
    built.mkdir(parents=True)
    (built / native.MANIFEST).write_text("\n".join(native.MODULES))
    monkeypatch.delenv("KIZUNA_NATIVE", raising=False)
    return tmp_path


def test_a_current_build_goes_in_front_of_the_sources(tree: Path) -> None:
    path = ["streams/core"]
    assert native.activate(path)
    assert path == [str(native.BUILD / native.fingerprint() / "streams" / "core"), "streams/core"]
    assert native.status().startswith("compiled")


def test_an_edited_source_runs_as_python_until_the_next_build(tree: Path) -> None:
    (tree / "streams/core/merge.py").write_text((tree / "streams/core/merge.py").read_text() + "\n# edited\n")
    path = ["streams/core"]
    assert not native.activate(path) and path == ["streams/core"]
    assert "changed since the last build" in native.status()


def test_kizuna_native_0_runs_the_reference(tree: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KIZUNA_NATIVE", "0")
    path = ["streams/core"]
    assert not native.activate(path) and path == ["streams/core"]
    assert native.status() == "reference Python (KIZUNA_NATIVE=0)"


@pytest.mark.parametrize("value", ["false", "False", "no", "off", "0"])
def test_every_false_the_settings_accept_switches_it_off(tree: Path, monkeypatch: pytest.MonkeyPatch,
                                                          value: str) -> None:
    from streams.settings import Settings

    monkeypatch.setenv("KIZUNA_NATIVE", value)
    assert Settings().native is False
    assert not native.activate(["streams/core"])
