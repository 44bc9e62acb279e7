"""``guikv-agent serve`` as a user starts it: a real subprocess on a free port of 127.0.0.1, queried with the openai
client, then stopped with Ctrl+C; flags are refused before any model loads."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

import httpx
import pytest

from tests.agent.conftest import TINY_PIXELS
from tests.agent.serve.conftest import TASK, image_message

CLI = [sys.executable, "-m", "agent.cli", "serve"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_serve_answers_openai_clients_and_stops_on_ctrl_c(tiny_model_folder):
    import openai

    port = _free_port()
    process = subprocess.Popen([*CLI, "--model", str(tiny_model_folder), "--kv", "gui_kv", "--budget", "64",
                                "--port", str(port), "--served-model-name", "tiny", *TINY_PIXELS],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=os.environ.copy())
    try:
        deadline = time.monotonic() + 120
        while True:
            assert process.poll() is None, process.stdout.read().decode()
            assert time.monotonic() < deadline, "the server did not come up within 120 s"
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        client = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="x", max_retries=0, timeout=60)
        assert [m.id for m in client.models.list()] == ["tiny"]
        messages = [{"role": "user", "content": TASK}, image_message(0)]
        out = client.chat.completions.create(model="tiny", messages=messages, max_tokens=4)
        assert out.choices[0].finish_reason in ("stop", "length") and out.usage.prompt_tokens > 0
        messages += [{"role": "assistant", "content": out.choices[0].message.content}, image_message(1)]
        again = client.chat.completions.create(model="tiny", messages=messages, max_tokens=4)
        assert again.usage.prompt_tokens_details.cached_tokens > 0
        assert "guikv_requests_total" in httpx.get(f"http://127.0.0.1:{port}/metrics").text
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            pytest.fail("the server did not stop within 30 s of Ctrl+C")
    assert process.returncode == 0, process.stdout.read().decode()


@pytest.mark.parametrize(("flags", "named"), [
    (["--budget", "lots"], "--budget"),
    (["--kv", "zip"], "--kv"),
    (["--port", "70000"], "--port"),
    (["--max-cache-gb", "0"], "--max-cache-gb"),
    (["--model", "./no/such/folder"], "--model"),
])
def test_bad_flags_are_refused_before_the_model_loads(flags, named):
    from typer.testing import CliRunner

    from agent.cli import app

    done = CliRunner().invoke(app, ["serve", "--model", "/nonexistent/model", *flags])
    assert done.exit_code == 2
    assert named in done.output
