"""The frozen input a gate runs both definitions on, and what identifies it.

By default the curated fixtures (``fixtures/*/events.parquet`` of the
repository; every scenario shares one event set, so it is read once), plus
any events given with ``--corpus`` or audit.yaml's ``gate: {corpus: [...]}``
(e.g. a pinned sample of production events). Each input is identified by the
SHA-256 of its bytes (a folder or glob: of its files' names and hashes), which
the gate's outputs record so a reviewer knows what was compared; inputs with
equal content are run once.
"""
from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from auditor.errors import ConfigError
from auditor.golden.events import resolve_files

FIXTURE_DIMS = ("cdn", "device", "os", "player_version", "country", "isp", "content_type")


def fixtures_dir() -> Path:
    """The curated fixtures of the repository auditor runs from."""
    return Path(__file__).resolve().parents[2] / "fixtures"


@dataclass(frozen=True)
class Fixture:
    name: str
    folder: Path

    @property
    def events(self) -> Path:
        return self.folder / "events.parquet"

    def truth(self) -> dict[str, Any]:
        return json.loads((self.folder / "truth.json").read_text(encoding="utf-8"))


def find_fixtures(selection: str | Sequence[str] | None = "all", folder: Path | None = None
                  ) -> list[Fixture]:
    """The curated fixtures named by ``selection`` ('all', 'none' or names)."""
    folder = folder or fixtures_dir()
    if selection in (None, "none") or selection == []:
        return []
    available = sorted(p.parent.name for p in folder.glob("*/truth.json")) if folder.is_dir() else []
    if selection == "all":
        if not available:
            raise ConfigError(f"no curated fixtures under {folder}", key="--fixtures",
                              hint="run from a checkout of the repository (fixtures/), or pass "
                                   "--fixtures none with --corpus")
        names = available
    else:
        names = [selection] if isinstance(selection, str) else list(selection)
        unknown = [n for n in names if n not in available]
        if unknown:
            raise ConfigError(f"unknown fixture(s) {unknown}", key="--fixtures",
                              hint="fixtures: " + (", ".join(available) or f"none under {folder}"))
    return [Fixture(n, folder / n) for n in names]


def _sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass(frozen=True)
class CorpusInput:
    """One distinct input: the paths that hold it (equal content) and its content hash."""

    name: str
    path: str
    sha256: str
    files: int
    bytes: int
    origin: str                     # fixtures | corpus
    copies: tuple[str, ...] = ()    # other paths with the same content

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "path": self.path, "sha256": self.sha256, "files": self.files,
                "bytes": self.bytes, "origin": self.origin, "copies": list(self.copies)}


def identify(path: str) -> tuple[str, int, int]:
    """(content hash, files, bytes) of an events path (file, glob or folder)."""
    if not os.path.exists(path) and not any(ch in path for ch in "*?["):
        raise ConfigError(f"no such file or folder: {path}", key="--corpus",
                          hint="--corpus takes raw events: a Parquet file, glob, folder, .jsonl or .csv")
    files = sorted(resolve_files(path).files)
    if len(files) == 1 and os.path.isfile(path):
        return _sha256(files[0]), 1, os.path.getsize(files[0])
    digest = hashlib.sha256()
    base = os.path.commonpath(files) if len(files) > 1 else os.path.dirname(files[0])
    for f in files:
        digest.update(f"{os.path.relpath(f, base)}\0{_sha256(f)}\n".encode())
    return digest.hexdigest(), len(files), sum(os.path.getsize(f) for f in files)


def build_corpus(fixtures: Sequence[Fixture], extra: Sequence[str]) -> list[CorpusInput]:
    """Distinct inputs, fixtures first, in the order given."""
    seen: dict[str, int] = {}
    out: list[CorpusInput] = []
    items = [(f"fixtures/{f.name}", str(f.events), "fixtures") for f in fixtures]
    items += [(os.path.basename(os.path.normpath(p)) or p, p, "corpus") for p in extra]
    for name, path, origin in items:
        sha, n, size = identify(path)
        if sha in seen:
            first = out[seen[sha]]
            out[seen[sha]] = CorpusInput(**{**first.__dict__, "copies": (*first.copies, path)})
            continue
        seen[sha] = len(out)
        label = "fixtures" if origin == "fixtures" else name
        if any(c.name == label for c in out):
            label = f"{label}#{len(out) + 1}"
        out.append(CorpusInput(name=label, path=path, sha256=sha, files=n, bytes=size, origin=origin))
    if not out:
        raise ConfigError("the corpus is empty", key="--corpus",
                          hint="keep the curated fixtures (the default) or pass --corpus EVENTS")
    return out
