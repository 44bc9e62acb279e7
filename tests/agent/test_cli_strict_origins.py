"""``guikv-agent run --strict-origins``: passed to the browser as ``strict_origins``; without ``--allow-origin`` it is a
usage error (exit 2) before any browser or model starts and before any run folder is made."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from agent.cli import app
from agent.commands import ENV_FLAGS
from environments import BrowserEnv, make


def test_strict_origins_without_an_allowlist_is_a_usage_error(tmp_path: Path) -> None:
    out = tmp_path / "run"
    result = CliRunner().invoke(
        app, ["run", "task", "--env", "browser", "--url", "http://127.0.0.1:9/", "--strict-origins", "--out", str(out)],
        env={"COLUMNS": "250"},
    )
    assert result.exit_code == 2, result.output
    assert "--strict-origins" in result.output and "pass --allow-origin too" in result.output
    assert not out.exists()


def test_strict_origins_reaches_the_browser_config() -> None:
    flags = {"url": "http://127.0.0.1:9/", "viewport": "320x240", "dpr": 1.0, "headed": False,
             "allow": ["http://127.0.0.1:9"]}
    assert "strict_origins" not in ENV_FLAGS["browser"](**flags, strict=False)
    config = ENV_FLAGS["browser"](**flags, strict=True)
    assert config["strict_origins"] is True and config["allowed_origins"] == ("http://127.0.0.1:9",)
    env = make("browser", **config)  # builds the config; nothing is launched before reset()
    assert isinstance(env, BrowserEnv) and env.config.strict_origins is True
    env.close()
