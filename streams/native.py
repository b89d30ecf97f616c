"""The compiled core: the hot modules of streams/core/ compiled by mypyc from their own source.

There is one source: the Python modules are the reference and mypyc compiles the same files
(type annotations become C types), so there is no second implementation to keep equal by hand.
`python -m streams.native build` (run by `make native`, which `make run` and `make test` depend
on) writes the extensions under build/native/<fingerprint>/, never next to the sources, and
`streams.core` puts them in front of the sources only when the fingerprint of the sources
still matches: an edited module runs as Python until the next build, never as a stale binary.
KIZUNA_NATIVE=0 runs the reference path (streams.settings.Settings.native documents and validates it;
it is read here because the choice is made when streams.core is first imported, before any settings
exist). tests/differential/ holds the two paths equal.
"""
from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BUILD = ROOT / "build" / "native"
MANIFEST = "MANIFEST"
# The per-indicator path: parsing, canonicalisation, normalisation, merge and scoring, rendering.
MODULES = tuple(f"streams/core/{name}.py" for name in (
    "canonical", "items", "scrub", "stix_in", "misp_in", "csv_in", "text_in", "withdrawal_in", "formats",
    "normalize", "confidence", "reputation", "merge", "stix_out", "feedback",
))
_SETUP = """
import sys
from mypyc.build import mypycify
from setuptools import setup
out, work, *modules = sys.argv[1:]
setup(name="kizuna-native", ext_modules=mypycify(modules, opt_level="3", target_dir=work + "/c"),
      script_args=["-q", "build_ext", "--parallel", "2", "--build-lib", out, "--build-temp", work + "/o"])
"""


def fingerprint() -> str:
    """What the compiled modules were built from: their sources and the interpreter's ABI."""
    digest = hashlib.sha256(sys.implementation.cache_tag.encode())
    for module in MODULES:
        digest.update(module.encode() + b"\0" + (ROOT / module).read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def _switched_off() -> bool:
    """KIZUNA_NATIVE false, read as pydantic reads a bool."""
    return os.environ.get("KIZUNA_NATIVE", "").strip().lower() in ("0", "false", "no", "off", "f", "n")


def status() -> str:
    """One line for the worker's log: which path runs, and why."""
    if _switched_off():
        return "reference Python (KIZUNA_NATIVE=0)"
    if (BUILD / fingerprint() / MANIFEST).exists():
        return f"compiled ({len(MODULES)} modules of streams/core, mypyc)"
    if BUILD.exists() and any(BUILD.iterdir()):
        return "reference Python: the sources changed since the last build (make native)"
    return "reference Python: not built (make native)"


def activate(core_path: list[str]) -> bool:
    """Put the build of these sources in front of streams/core/ (its package __path__); False if there is none."""
    if _switched_off():
        return False
    built = BUILD / fingerprint()
    if not (built / MANIFEST).exists():
        return False
    core_path.insert(0, str(built / "streams" / "core"))
    if str(built) not in sys.path:
        sys.path.append(str(built))  # mypyc's shared library of the group, a top-level module
    return True


def compiled() -> list[str]:
    """The streams.core modules loaded from the build (for the differential test and the log)."""
    return sorted(name for name, module in sys.modules.items()
                  if name.startswith("streams.core.") and str(getattr(module, "__file__", "")).startswith(str(BUILD)))


def build(force: bool = False) -> Path:
    """Compile MODULES into build/native/<fingerprint>/ (a no-op when that build exists); older builds go."""
    target = BUILD / fingerprint()
    if (target / MANIFEST).exists() and not force:
        return target
    BUILD.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=BUILD, prefix=".work-") as work:
        out = Path(work) / "out"
        done = subprocess.run([sys.executable, "-c", _SETUP, str(out), work, *MODULES], cwd=ROOT,
                              capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"mypyc could not compile streams/core:\n{(done.stdout + done.stderr)[-4000:]}")
        for stale in BUILD.iterdir():
            if not stale.name.startswith("."):
                shutil.rmtree(stale)
        (out / MANIFEST).write_text("\n".join(MODULES) + "\n")
        out.rename(target)
    return target


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m streams.native", description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=["build", "status"], help="build: compile (no-op if current); "
                        "status: which path a worker would run")
    parser.add_argument("--force", action="store_true", help="rebuild even when the build is current")
    args = parser.parse_args()
    if args.command == "status":
        print(status())
        return 0
    if shutil.which(os.environ.get("CC", "cc")) is None:
        print("native: no C compiler (cc); the pipeline runs the reference Python path", file=sys.stderr)
        return 0
    try:
        target = build(args.force)
    except RuntimeError as exc:
        print(f"native: {exc}", file=sys.stderr)
        return 1
    print(f"native: {len(MODULES)} modules compiled in {target.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
