"""The container image, really built and run with podman (through ../shared/tools/container-base).

Skipped with a reason where the tool or podman is not available (a user's laptop)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from healthsync.sandbox.base import SandboxServer
from tests.world import TOKENS, build_world

ROOT = Path(__file__).resolve().parents[1]
# Beside the repository in CI; a git worktree elsewhere names it with CONTAINER_BASE_TOOL.
TOOL = Path(os.environ.get("CONTAINER_BASE_TOOL") or ROOT.parent / "shared" / "tools" / "container-base")
IMAGE = "localhost/healthsync-test"
MAX_IMAGE_MB = 600  # with the `backtest` extra (scikit-learn, matplotlib)
README = ROOT / "README.md"

pytestmark = [pytest.mark.container, pytest.mark.slow]


def _tool(*args: str, timeout: float = 900) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(TOOL), *args], capture_output=True, text=True, timeout=timeout, check=False)


@pytest.fixture(scope="module")
def image() -> str:
    if not TOOL.exists():
        pytest.skip(f"{TOOL} not found (it ships beside the repository on the project's machines)")
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        pytest.skip("container-base needs root and apt-get to install podman")
    built = _tool("build", "-t", IMAGE, str(ROOT))
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    return IMAGE


def test_image_is_lean_and_its_size_is_recorded_in_the_readme(image: str) -> None:
    inspected = _tool("podman", "image", "inspect", "--format", "{{.Size}}", image)
    assert inspected.returncode == 0, inspected.stderr
    size_mb = int(inspected.stdout.strip()) / 1_000_000
    assert size_mb <= MAX_IMAGE_MB, f"the image is {size_mb:.0f} MB"
    recorded = re.search(r"Image size: (\d+) MB", README.read_text())
    assert recorded is not None, "README: record the measured image size as 'Image size: N MB'"
    assert abs(int(recorded.group(1)) - size_mb) <= 10, f"README says {recorded.group(1)} MB, measured {size_mb:.0f} MB"
    listed = _tool("run", "--rm", "--entrypoint", "sh", image, "-c", "ls /opt/healthsync/lib/python3.11/site-packages")
    assert listed.returncode == 0, listed.stderr
    for absent in ("pytest", "hypothesis", "mypy", "ruff", "pyarrow", "snowflake", "pip", "setuptools"):
        assert not re.search(rf"^{absent}(-|$)", listed.stdout, re.M), absent
    tools = _tool("run", "--rm", "--entrypoint", "sh", image, "-c", "command -v gcc cc make strip || true")
    assert tools.stdout.strip() == ""  # no build tools in the final stage


def test_parquet_works_in_the_image_without_pyarrow(image: str) -> None:
    result = _tool(
        "run",
        "--rm",
        "--entrypoint",
        "sh",
        image,
        "-c",
        "cd /tmp && healthsync init site >/dev/null && cd site"
        " && healthsync score -c healthsync.yaml --format parquet | head -c 4",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout == "PAR1"


def test_the_image_renders_the_backtest_report_offline(image: str) -> None:
    """The `backtest` extra is in the image: matplotlib draws the report's charts as a non-root user."""
    code = (
        "from healthsync.connector.backtest.report import render_html\n"
        "mix = [{'snapshot': '2025-01-01T00:00:00Z', 'healthy': 1, 'neutral': 2, 'at_risk': 3}]\n"
        "print(render_html({'snapshots': ['2025-01-01T00:00:00Z'], 'tier_mix': mix, 'outcomes': {}}))\n"
    )
    result = _tool("run", "--rm", "--network=none", "--entrypoint", "python", image, "-c", code)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.count("<svg") == 1
    assert "Warning" not in result.stderr  # e.g. matplotlib finding no writable config directory


def test_image_runs_as_non_root_with_healthsync_entrypoint(image: str) -> None:
    who = _tool("run", "--rm", "--entrypoint", "id", image, "-u")
    assert who.returncode == 0, who.stderr
    assert who.stdout.strip() != "0"
    help_text = _tool("run", "--rm", image, "--help")
    assert help_text.returncode == 0, help_text.stderr
    assert "Score, then sync" in help_text.stdout


def test_demo_runs_inside_the_container(image: str) -> None:
    result = _tool("run", "--rm", "--network=host", image, "demo", "--accounts", "60", timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "write calls in the second run: 0" in result.stdout
    assert "health_score" in result.stdout


def test_image_runs_healthsync_run_against_sandboxes_on_the_host(
    image: str, tmp_path: Path, hubspot: SandboxServer, intercom: SandboxServer
) -> None:
    world = build_world(tmp_path, hubspot, intercom, "sqlite:////state/state.db", accounts=80)
    config = yaml.safe_load(world.config.read_text())
    config["source"]["url"] = "duckdb:////config/product.duckdb"
    world.config.write_text(yaml.safe_dump(config))
    tmp_path.chmod(0o755)
    assert TOKENS.hubspot_access_token is not None
    assert TOKENS.intercom_access_token is not None
    env = {
        "HUBSPOT_ACCESS_TOKEN": TOKENS.hubspot_access_token.get_secret_value(),
        "INTERCOM_ACCESS_TOKEN": TOKENS.intercom_access_token.get_secret_value(),
    }
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    for name, value in env.items():  # secret files end with a newline: stripped when loaded
        (secrets / name.lower()).write_text(value + "\n")
        (secrets / name.lower()).chmod(0o644)
    secrets.chmod(0o755)
    args = ["run", "--rm", "--network=host", "-v", f"{tmp_path}:/config:ro", "-v", f"{secrets}:/run/secrets:ro"]
    # the image presets HEALTHSYNC_STATE__URL to /state; the run uses the config's state URL only when told to
    result = _tool(*args, "-e", "HEALTHSYNC_STATE__URL=sqlite:////state/state.db", image, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert '"event": "run_summary"' in result.stdout.splitlines()[-1]  # off a terminal: JSON lines
    companies = [
        c for c in world.hubspot.sandbox.snapshot()["companies"] if c["properties"].get("healthsync_health_score")
    ]
    assert companies
    for secret in env.values():
        assert secret not in result.stdout + result.stderr
