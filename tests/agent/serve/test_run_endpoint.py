"""Issue 11, acceptance 6: ``guikv-agent run --endpoint`` drives the local test page through our own server (the tiny
model behind a real uvicorn on 127.0.0.1, asked with the official ``openai`` client) and writes the same run folder as
a local run of the same model: the same files, the same row fields, the same answers and actions (greedy decoding,
the full cache on both sides, the same pixel limits, so the server's tokens are the local session's)."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from agent.cli import app
from agent.serve.app import create_app
from agent.serve.engine import Engine
from agent.serve.metrics import ServerMetrics
from agent.serve.running import serve_in_thread
from agent.serve.service import ChatService, SessionConfig
from agent.serve.store import SessionStore
from guikv.loading import load_model
from tests.agent.conftest import TINY_PIXELS

SERVED = "tiny-ui-tars"


def _run(tmp_path, name, site, folder, *extra):
    out = tmp_path / name
    result = CliRunner().invoke(app, [
        "run", "Type hello and press Go", "--env", "browser", "--url", site.url, "--viewport", "320x240",
        "--model", str(folder), *TINY_PIXELS, "--kv", "full", "--max-new-tokens", "8", "--max-steps", "2",
        "--out", str(out), *extra], env={"COLUMNS": "250"}, catch_exceptions=False)
    rows = [json.loads(line) for line in (out / "steps.jsonl").read_text(encoding="utf-8").splitlines()]
    return result, out, rows


def test_run_through_our_server_writes_the_run_folder_of_a_local_run(site, tiny_model_folder, tmp_path):
    limits = dict(zip(("min_pixels", "max_pixels"), map(int, TINY_PIXELS[1::2]), strict=True))
    model, processor = load_model(tiny_model_folder, **limits)
    metrics = ServerMetrics()
    service = ChatService(model, processor, SessionConfig("full", None), SessionStore(2**34, 8), metrics)
    with serve_in_thread(create_app(service, SERVED, engine=Engine(max_queued=8))) as url:
        remote, remote_out, remote_rows = _run(tmp_path, "remote", site, tiny_model_folder,
                                               "--endpoint", url + "/v1", "--endpoint-model", SERVED)
    local, local_out, local_rows = _run(tmp_path, "local", site, tiny_model_folder)
    assert remote.exit_code == local.exit_code, remote.output
    assert "at " + url + "/v1" in " ".join(remote.output.split())

    def files(folder):
        return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())

    assert files(remote_out) == files(local_out)
    assert len(remote_rows) == len(local_rows) >= 1
    for remote_row, local_row in zip(remote_rows, local_rows, strict=True):
        assert remote_row.keys() == local_row.keys()
        assert remote_row["actions"] == local_row["actions"] and remote_row["stop_reason"] == local_row["stop_reason"]
        assert [c["raw"] for c in remote_row["calls"]] == [c["raw"] for c in local_row["calls"]]
        for call in remote_row["calls"]:
            assert call["cache"]["endpoint"] == url + "/v1" and call["cache"]["prompt_tokens"] > 0
    config = json.loads((remote_out / "config.json").read_text())
    assert config["endpoint"] == url + "/v1" and config["endpoint_model"] == SERVED
    assert "api_key" not in json.dumps(config).lower()
    calls = [c for row in remote_rows for c in row["calls"]]
    if len(calls) > 1:  # the retry extended the cached conversation on the server
        assert calls[1]["cache"]["cached_tokens"] > 0
