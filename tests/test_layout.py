"""The layout: one import package, `healthsync`, and imports that run one way (docs/architecture.md)."""

from __future__ import annotations

import ast
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.paths import ROOT

# Top to bottom: a module may import its own wing and the wings below it, never one above or beside it.
LAYERS: list[tuple[str, ...]] = [
    ("cli",),
    ("demo",),
    ("engine",),
    ("backtest",),
    ("hubspot", "intercom", "slack"),
    ("sync",),
    ("pipeline",),
    ("sources",),
    ("settings",),
    ("logs", "output", "yamlfile", "templates"),
    ("errors", "records", "__init__"),
]
DESTINATIONS = {"hubspot", "intercom", "slack"}
FOLDERS = ("connector", "scoring", "state", "mappings", "sandbox")


def _wing(module: str) -> str:
    """`healthsync.connector.sync.plan` -> `sync`; `healthsync.connector.cli` -> `cli`."""
    return module.split(".")[2] if module.count(".") >= 2 else "__init__"


def _layer(wing: str) -> int:
    return next(index for index, wings in enumerate(LAYERS) if wing in wings)


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(("healthsync", *parts)).removesuffix(".__init__")


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {name for name in found if name.startswith("healthsync.")}


def _graph(folder: str) -> dict[str, set[str]]:
    return {_module_name(path): _imports(path) for path in sorted((ROOT / folder).rglob("*.py"))}


def test_connector_imports_run_one_way() -> None:
    wrong = []
    for module, imported in _graph("connector").items():
        for target in imported:
            if not target.startswith("healthsync.connector"):
                continue
            source_wing, target_wing = _wing(module), _wing(target)
            if source_wing == target_wing:
                continue
            same_layer = _layer(source_wing) == _layer(target_wing)
            if _layer(target_wing) < _layer(source_wing) or same_layer:
                wrong.append(f"{module} imports {target}")
    assert wrong == []


def test_shared_wings_know_no_destination() -> None:
    for module, imported in _graph("connector").items():
        if _wing(module) in {"sync", "sources", "pipeline", "settings"}:
            assert not {_wing(target) for target in imported if target.startswith("healthsync.connector")} & (
                DESTINATIONS | {"engine", "cli", "demo"}
            ), module
        if _wing(module) == "sources":
            assert not any(_wing(target) == "sync" for target in imported), module


def test_scoring_is_pure() -> None:
    for module, imported in _graph("scoring").items():
        assert all(target.startswith("healthsync.scoring") for target in imported), module


def test_every_folder_is_linked_into_the_import_package() -> None:
    for folder in FOLDERS:
        link = ROOT / "healthsync" / folder
        assert link.is_symlink(), link
        assert link.resolve() == (ROOT / folder).resolve()


_INSTALLED = """
import importlib, importlib.metadata as md, json, pkgutil
dist = md.distribution("healthsync")
direct = dist.read_text("direct_url.json")
editable = bool(direct and json.loads(direct).get("dir_info", {}).get("editable"))
files = [str(f) for f in dist.files or []]
tops = sorted({f.split("/")[0] for f in files if not f.startswith("..")})
import healthsync
modules = [m.name for m in pkgutil.walk_packages(healthsync.__path__, "healthsync.")]
for name in modules:
    importlib.import_module(name)
print(json.dumps({"editable": editable, "tops": tops, "files": files, "modules": modules,
                  "path": healthsync.__file__, "version": dist.version}))
"""


def test_the_installed_distribution_claims_one_import_name(tmp_path: Path) -> None:
    # -I: the installed copy, not this checkout (no PYTHONPATH, no current directory on the path).
    result = subprocess.run(
        [sys.executable, "-I", "-c", _INSTALLED], cwd=tmp_path, capture_output=True, text=True, check=False
    )
    if "PackageNotFoundError" in result.stderr:
        pytest.skip("healthsync is not installed in this environment")
    assert result.returncode == 0, result.stderr
    installed = json.loads(result.stdout)
    if installed["editable"]:
        pytest.skip("an editable install has no file list; .ci/run installs non-editable")
    assert installed["tops"] == ["healthsync", f"healthsync-{installed['version']}.dist-info"]
    assert not {Path(f).parts[0] for f in installed["files"]} & set(FOLDERS)
    for expected in ("healthsync/py.typed", "healthsync/mappings/hubspot.yaml", "healthsync/state/alembic.ini"):
        assert expected in installed["files"]
    assert any(f.startswith("healthsync/state/migrations/versions/0001") for f in installed["files"])
    assert {"healthsync.connector.cli", "healthsync.scoring.table", "healthsync.sandbox.hubspot"} <= set(
        installed["modules"]
    )


def test_version_is_the_same_everywhere() -> None:
    from importlib.metadata import version

    from healthsync import __version__

    script = Path(sys.executable).parent / "healthsync"
    by_module = subprocess.run(
        [sys.executable, "-m", "healthsync", "--version"], capture_output=True, text=True, check=False
    )
    assert by_module.returncode == 0, by_module.stderr
    assert by_module.stdout.strip() == f"healthsync, version {__version__}"
    if script.exists():
        by_script = subprocess.run([str(script), "--version"], capture_output=True, text=True, check=False)
        assert by_script.stdout == by_module.stdout
        assert version("healthsync") == __version__


@pytest.mark.slow
def test_building_the_wheel_prints_no_warning(tmp_path: Path) -> None:
    source = tmp_path / "src"  # pip builds in the tree: a copy keeps build/ out of the checkout
    skip = shutil.ignore_patterns(".git", ".venv*", "venv", "build", "*.egg-info", "__pycache__", "*_cache", "data")
    shutil.copytree(ROOT, source, symlinks=True, ignore=skip)
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-cache-dir", "-w", str(tmp_path), str(source)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    output = result.stdout + result.stderr
    assert "Warning" not in output, output
    assert "!!" not in output, output
