"""An installed copy has every module, template, schema and rule the checkout has.

pyproject.toml lists the packages by hand (``rules/`` is mapped to
``auditor.rules``), so a new subpackage or a template folder that nobody adds
there would work in an editable checkout and vanish from a wheel: ``auditor
gate`` would fail for every user who ran ``pip install``. This test reads the
setuptools configuration and checks it against the files on disk.
"""
from __future__ import annotations

import fnmatch
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONFIG = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]


def package_folder(package: str) -> Path:
    """The folder setuptools takes ``package`` from, through ``package-dir``."""
    mapping = CONFIG.get("package-dir", {})
    parts = package.split(".")
    for cut in range(len(parts), 0, -1):
        head = ".".join(parts[:cut])
        if head in mapping:
            return ROOT / mapping[head] / Path(*parts[cut:])
    return ROOT / Path(*parts)


def shipped(path: Path) -> bool:
    """Whether a data file is matched by its package's ``package-data`` globs."""
    for package in CONFIG["packages"]:
        folder = package_folder(package)
        if folder not in path.parents:
            continue
        relative = path.relative_to(folder).as_posix()
        if any(fnmatch.fnmatch(relative, glob.replace("**/", "*"))
               for glob in CONFIG.get("package-data", {}).get(package, [])):
            return True
    return False


def source_files(top: Path):
    return [p for p in top.rglob("*") if p.is_file() and "__pycache__" not in p.parts]


def test_every_folder_of_modules_is_a_listed_package():
    listed = {package_folder(p) for p in CONFIG["packages"]}
    folders = {p.parent for p in (ROOT / "auditor").rglob("*.py")}
    missing = sorted(str(f.relative_to(ROOT)) for f in folders - listed)
    assert not missing, f"add these to [tool.setuptools] packages in pyproject.toml: {missing}"


def test_every_data_file_is_package_data():
    data = [p for top in ("auditor", "rules") for p in source_files(ROOT / top) if p.suffix != ".py"]
    assert data, "no templates, schemas or rules found: is the checkout whole?"
    missing = sorted(str(p.relative_to(ROOT)) for p in data if not shipped(p))
    assert not missing, f"add globs for these to [tool.setuptools.package-data]: {missing}"
