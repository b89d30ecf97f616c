"""`kizuna` as scripts use it, no broker: listings as JSON or plain lines, errors that quote user
input as text (never markup), exit codes, help that reads as written."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from streams.sectors import ALL, SECTORS
from streams.settings import ROOT


def kizuna(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "KIZUNA_VAR_DIR": str(tmp_path), "KIZUNA_PSEUDONYM_KEY": "cli-tests",
           "KIZUNA_MEMBERS_FILE": str(ROOT / "tests" / "fixtures" / "members.yaml"), "COLUMNS": "80"}
    return subprocess.run([sys.executable, "-m", "streams.cli", *args], env=env, cwd=ROOT, capture_output=True,
                          text=True, timeout=60)


def test_topics_as_json_and_as_plain_lines_when_piped(tmp_path: Path) -> None:
    rows = [json.loads(line) for line in kizuna(tmp_path, "topics", "--json").stdout.splitlines()]
    names = [row["topic"] for row in rows]
    assert "kizuna.intake" in names and "kizuna.org.acme.inbox" in names
    assert all(set(row) == {"topic", "partitions", "config", "carries"} for row in rows)
    piped = kizuna(tmp_path, "topics").stdout.splitlines()  # stdout is a pipe: no table, nothing cut
    assert [line.split("\t")[0] for line in piped] == names


def test_sectors_as_json(tmp_path: Path) -> None:
    shown = [json.loads(line) for line in kizuna(tmp_path, "sectors", "--json").stdout.splitlines()]
    assert [row["sector"] for row in shown] == [*SECTORS, ALL]
    assert shown[1] == {"sector": "finance", "ja": "金融"}


def test_errors_print_user_input_as_text(tmp_path: Path) -> None:
    given = tmp_path / "x.csv"
    given.write_text("value\nevil.example\n")
    result = kizuna(tmp_path, "submit", str(given), "--as", "acme", "--sector", "[blink]x")
    assert result.returncode == 2 and "unknown sector(s) [blink]x;" in result.stderr  # shown, not interpreted


def test_group_help_is_not_broken_mid_sentence(tmp_path: Path) -> None:
    shown = kizuna(tmp_path, "--help").stdout
    assert "keep its object store filled from the topics" in " ".join(shown.replace("│", " ").split())
