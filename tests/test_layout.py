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

ARCHITECTURE = ROOT / "docs" / "architecture.md"
FOLDERS = ("connector", "scoring", "state", "mappings", "sandbox")
SCORING_INTERFACE = {"", ".config", ".names", ".fingerprint", ".backtest"}
COMPATIBILITY = {"healthsync.connector.errors", "healthsync.connector.yamlfile"}


def _layers() -> list[set[str]]:
    """The ```layers block of docs/architecture.md: one set of nodes per line, top to bottom."""
    text = ARCHITECTURE.read_text()
    block = text.split("```layers\n", 1)[1].split("```", 1)[0]
    return [set(line.split()) for line in block.splitlines() if line.strip()]


def _node(module: str) -> str:
    """`healthsync.connector.sync.plan` -> `connector.sync`; `healthsync.scoring.table` -> `scoring`;
    `healthsync.errors` -> `errors`; `healthsync` -> `healthsync`."""
    parts = module.split(".")
    if parts[1:2] == ["connector"]:
        return f"connector.{parts[2]}" if len(parts) > 2 else "connector.__init__"
    return parts[1] if len(parts) > 1 else "healthsync"


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    if parts[0] == "healthsync":
        parts = parts[1:]
    return ".".join(("healthsync", *parts)).removesuffix(".__init__")


def _imports(path: Path) -> set[str]:
    """Every `healthsync` module `path` imports: at the top, inside functions and under TYPE_CHECKING alike."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {name for name in found if name == "healthsync" or name.startswith("healthsync.")}


def _modules() -> dict[str, Path]:
    """Every module of the import package: the design card's folders and the modules of `healthsync/` itself."""
    paths = [path for folder in FOLDERS for path in sorted((ROOT / folder).rglob("*.py"))]
    paths += sorted((ROOT / "healthsync").glob("*.py"))
    return {_module_name(path): path for path in paths}


def _graph() -> dict[str, set[str]]:
    """Module -> the modules of ours it imports (`from a.b import c` counts `a.b.c` only when it is a module)."""
    modules = _modules()
    return {module: _imports(path) & modules.keys() for module, path in modules.items()}


def test_architecture_places_every_module() -> None:
    layers = _layers()
    placed = set().union(*layers)
    assert sum(len(layer) for layer in layers) == len(placed), "a node is on two lines of docs/architecture.md"
    assert {_node(module) for module in _modules()} <= placed


def test_every_import_runs_down_the_layers() -> None:
    layers = _layers()
    level = {node: index for index, layer in enumerate(layers) for node in layer}
    wrong = []
    for module, imported in _graph().items():
        for target in imported:
            source_node, target_node = _node(module), _node(target)
            if source_node != target_node and level[target_node] <= level[source_node]:
                wrong.append(f"{module} ({source_node}) imports {target} ({target_node})")
    assert wrong == []


def test_the_graph_is_the_whole_package() -> None:
    """The checks above see every package and wing, and the edges the issue named are gone."""
    graph = _graph()
    nodes = {_node(module) for module in graph}
    assert {"scoring", "state", "mappings", "sandbox", "errors", "yamlfile", "connector.sources"} <= nodes
    edges = {(_node(module), _node(target)) for module, targets in graph.items() for target in targets}
    assert ("connector.cli", "connector.engine") in edges  # imports inside functions count
    assert ("connector.demo", "sandbox") in edges  # and so do imports under TYPE_CHECKING
    for below in ("state", "mappings", "scoring"):
        assert not {target for source, target in edges if source == below and target.startswith("connector")}
    assert ("connector.sync", "connector.pipeline") not in edges


def test_only_the_cli_and_the_demo_import_the_emulators() -> None:
    for module, imported in _graph().items():
        if any(_node(target) == "sandbox" for target in imported):
            assert _node(module) in {"connector.cli", "connector.demo", "sandbox"}, module


def test_the_connector_uses_scoring_through_its_interface() -> None:
    allowed = {f"healthsync.scoring{suffix}" for suffix in SCORING_INTERFACE}
    for module, imported in _graph().items():
        if _node(module) == "scoring":
            assert all(_node(target) == "scoring" for target in imported), module
            continue
        assert {target for target in imported if _node(target) == "scoring"} <= allowed, module


def test_nothing_of_ours_imports_the_compatibility_names() -> None:
    for module, imported in _graph().items():
        assert not imported & COMPATIBILITY, module


_IMPORT_ALL = """
import importlib, pkgutil, sys
import healthsync
for package in ("connector", "scoring", "state", "mappings"):
    root = importlib.import_module(f"healthsync.{package}")
    for info in pkgutil.walk_packages(root.__path__, f"healthsync.{package}."):
        importlib.import_module(info.name)
importlib.import_module("healthsync.__main__")
print(sorted(name for name in sys.modules if name.startswith("healthsync.sandbox")))
"""


def test_no_emulator_loads_when_the_package_is_imported() -> None:
    result = subprocess.run([sys.executable, "-c", _IMPORT_ALL], cwd=ROOT, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


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
