"""Integration tests: the real local broker, the worker as a subprocess, a namespace of their own
(the `hub` fixture in tests/conftest.py)."""
from __future__ import annotations

import pytest

from streams.settings import ROOT


@pytest.fixture()
def read_file():
    fixtures = ROOT / "tests" / "fixtures"
    return lambda name: (fixtures / name).read_bytes()
