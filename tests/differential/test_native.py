"""The compiled core (streams/native.py) computes exactly what the reference Python computes.

tests/differential/paths.py writes everything the compiled modules compute on the public corpus
(and damaged copies of it), random submissions, random multi-member merge histories and an
adversarial community; it runs once compiled and once with KIZUNA_NATIVE=0, and the outputs must
be equal line by line. `make test` builds the compiled modules first (`make native`)."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from streams import native


def _run(out: Path, **env: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "tests.differential.paths", str(out)], cwd=native.ROOT,
                            env={**os.environ, **env}, stderr=subprocess.PIPE)


def test_the_compiled_core_gives_what_the_reference_python_gives(tmp_path: Path) -> None:
    if shutil.which(os.environ.get("CC", "cc")) is None:
        pytest.skip("no C compiler on this machine: the compiled core is not built, workers run the reference")
    assert native.status().startswith("compiled"), f"{native.status()}: `make test` builds it first"
    runs = {"compiled": _run(tmp_path / "compiled.jsonl", KIZUNA_NATIVE="1"),
            "reference": _run(tmp_path / "reference.jsonl", KIZUNA_NATIVE="0")}
    for name, run in runs.items():
        assert run.wait(timeout=300) == 0, f"{name}: {run.stderr.read().decode()[-2000:] if run.stderr else ''}"
    compiled = (tmp_path / "compiled.jsonl").read_bytes().splitlines()
    reference = (tmp_path / "reference.jsonl").read_bytes().splitlines()
    expected = sorted(m.removesuffix(".py").replace("/", ".") for m in native.MODULES)
    assert orjson.loads(compiled[0])["value"] == expected  # the compiled run really ran compiled code
    assert orjson.loads(reference[0])["value"] == []
    assert len(compiled) == len(reference) > 10_000
    for mine, theirs in zip(compiled[1:], reference[1:]):
        if mine != theirs:
            where = orjson.loads(theirs)
            pytest.fail(f"{where['kind']} of {where['name']} differs:\ncompiled:  {mine[:600]!r}\n"
                        f"reference: {theirs[:600]!r}")
