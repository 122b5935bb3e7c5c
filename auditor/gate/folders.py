"""The two rules folders a gate compares: head (the one in use) and base (a git revision or a folder).

A base revision is read with ``git archive`` into a temporary folder, so the
working tree, the index and HEAD are never touched. A folder is checked for
the files the golden calculator needs before anything runs; every problem is
a :class:`ConfigError` (exit 2) naming the folder or file.
"""
from __future__ import annotations

import io
import os
import subprocess
import tarfile
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from auditor.errors import ConfigError
from auditor.golden.sqlfiles import RulesFolder, packaged_rules_dir

# options.yaml is optional (a folder without it runs with GoldenOptions' defaults, as
# revisions from before it existed do)
REQUIRED_FILES = ("metrics.yaml", "golden/01_load.sql", "golden/02_dedup.sql",
                  "golden/03_live.sql", "golden/04_intervals.sql", "golden/05_session_facts.sql",
                  "golden/06_attributes.sql", "golden/07_aggregate.sql")


def check_folder(rules: RulesFolder, label: str) -> RulesFolder:
    """``rules`` if it holds every file the golden calculator reads, else a ConfigError."""
    missing = [f for f in REQUIRED_FILES if not rules.exists(f)]
    if missing:
        raise ConfigError(f"the {label} rules folder has no {', '.join(missing)}",
                          file=rules.describe(),
                          hint="a rules folder holds golden/*.sql and metrics.yaml "
                               "(copy the shipped rules/ folder to start one)")
    return rules


def head_folder(head: str | None, in_use: RulesFolder | None = None) -> RulesFolder:
    """``--head DIR``, else the rules folder in use (audit.yaml's, else the shipped one)."""
    if head is None:
        # read from disk as a folder of the user's (not the cached packaged copy): in a
        # development install it is the pull request's rules/, whose SQL errors are exit 2
        in_use = in_use or RulesFolder()
        return check_folder(RulesFolder(root=in_use.root or packaged_rules_dir(),
                                        overrides=in_use.overrides), "head")
    if not os.path.isdir(head):
        raise ConfigError(f"no such folder: {head}", key="--head",
                          hint="--head takes the rules folder of the change (e.g. rules/)")
    return check_folder(RulesFolder(root=os.path.abspath(head)), "head")


def _git(repo: str, *args: str, binary: bool = False) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(["git", "-C", repo, *args], capture_output=True, check=False,
                              text=not binary)
    except FileNotFoundError:
        raise ConfigError("git is not installed", key="--base",
                          hint="install git, or pass --base a folder") from None


def _repo_of(folder: str) -> tuple[str, str]:
    """(repository top level, ``folder`` relative to it)."""
    top = _git(folder, "rev-parse", "--show-toplevel")
    if top.returncode:
        raise ConfigError(f"{folder} is not inside a git repository, so a revision cannot be read",
                          key="--base", hint="pass --base a folder holding the base rules instead")
    root = top.stdout.strip()
    rel = os.path.relpath(os.path.realpath(folder), os.path.realpath(root))
    return root, "" if rel == "." else rel


@contextmanager
def base_folder(base: str, head: RulesFolder) -> Iterator[RulesFolder]:
    """``--base``: an existing folder, else a git revision of head's folder (and of its overrides)."""
    if os.path.isdir(base):
        yield check_folder(RulesFolder(root=os.path.abspath(base)), "base")
        return
    head_dir = head.root or packaged_rules_dir()
    repo, rel = _repo_of(head_dir)
    commit = _git(repo, "rev-parse", "--verify", "--quiet", f"{base}^{{commit}}")
    if commit.returncode:
        raise ConfigError(f"base revision {base!r} does not exist in {repo}", key="--base",
                          hint="give a commit, branch or tag (in CI fetch it first: "
                               "git fetch origin main; --base origin/main), or a folder")
    sha = commit.stdout.strip()
    with tempfile.TemporaryDirectory(prefix="auditor-gate-base-") as tmp:
        root = os.path.join(tmp, "rules")
        os.makedirs(root)
        archive = _git(repo, "archive", "--format=tar", f"{sha}:{rel}" if rel else sha, binary=True)
        if archive.returncode:
            raise ConfigError(f"{rel or 'the repository root'} does not exist at {base} ({sha[:12]})",
                              file=repo, key="--base",
                              hint="the base revision has no rules folder there; pass --base a folder")
        with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
            tar.extractall(root, filter="data")
        overrides = []
        for relpath, path in head.overrides:   # audit.yaml's own files, at the same revision
            o_repo, o_rel = _repo_of(os.path.dirname(path))
            shown = _git(o_repo, "show", f"{sha}:{Path(o_rel, os.path.basename(path)).as_posix()}")
            if shown.returncode == 0:
                copy = os.path.join(tmp, "overrides", *relpath.split("/"))
                os.makedirs(os.path.dirname(copy), exist_ok=True)
                Path(copy).write_text(shown.stdout, encoding="utf-8")
                overrides.append((relpath, copy))
        yield check_folder(RulesFolder(root=root, overrides=tuple(overrides),
                                       label=f"{base} ({sha[:12]}):{rel or '.'}"), "base")
