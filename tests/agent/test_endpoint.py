"""``EndpointPolicy`` pieces that need no server: the URL check, the sliding screenshot window (UI-TARS-desktop's
layout: the oldest screenshot turns leave, the replies stay), the wire format, and a server that is not there."""

from __future__ import annotations

import base64
import io
import socket

import pytest
from PIL import Image
from typer.testing import CliRunner

from agent.cli import app
from agent.endpoint import check_endpoint_url, openai_messages, png_data_url, windowed
from guikv.testing import synthetic_screenshot


@pytest.mark.parametrize("url", ["http://127.0.0.1:8000/v1", "https://gpu-box/v1/", "http://[::1]:8000"])
def test_endpoint_urls_are_base_urls(url):
    assert check_endpoint_url(url) == url.rstrip("/")


@pytest.mark.parametrize("url", ["127.0.0.1:8000", "ftp://host/v1", "http:///v1", "http://h/v1?x=1", "", "file:///etc"])
def test_a_bad_endpoint_url_names_what_is_expected(url):
    with pytest.raises(ValueError, match="base URL"):
        check_endpoint_url(url)


def _turn(step: int) -> dict:
    return {"role": "user", "content": [{"type": "image", "image": synthetic_screenshot(64, 48, seed=step)}]}


def test_the_window_drops_the_oldest_screenshot_turns_and_keeps_every_reply():
    messages = [{"role": "system", "content": "sys"}, {"role": "user", "content": "task"}]
    for step in range(7):
        messages += [_turn(step), {"role": "assistant", "content": f"reply {step}"}]
    kept = windowed(messages, 5)
    assert kept[:2] == messages[:2]
    images = [m for m in kept if isinstance(m["content"], list)]
    assert [m["content"][0]["image"] for m in images] == [messages[2 + 2 * s]["content"][0]["image"] for s in range(2, 7)]
    assert [m["content"] for m in kept if m["role"] == "assistant"] == [f"reply {s}" for s in range(7)]
    assert windowed(messages, None) == messages and windowed(messages, 100) == messages


def test_the_wire_format_is_openai_image_url_parts_with_the_exact_pixels():
    image = synthetic_screenshot(64, 48, seed=3)
    (wire,) = openai_messages([{"role": "user", "content": [{"type": "image", "image": image},
                                                            {"type": "text", "text": "next"}]}])
    url = wire["content"][0]["image_url"]["url"]
    assert url.startswith("data:image/png;base64,") and url == png_data_url(image)
    decoded = Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1])))
    assert decoded.size == image.size and list(decoded.convert("RGB").getdata()) == list(image.convert("RGB").getdata())
    assert wire["content"][1] == {"type": "text", "text": "next"}


def test_a_server_that_is_not_there_is_one_line_before_the_first_step(site, tmp_path):
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    out = tmp_path / "run"
    result = CliRunner().invoke(app, [
        "run", "t", "--env", "browser", "--url", site.url, "--model", "ByteDance-Seed/UI-TARS-1.5-7B",
        "--endpoint", f"http://127.0.0.1:{port}/v1", "--endpoint-timeout", "5", "--out", str(out)],
        env={"COLUMNS": "250"})
    assert result.exit_code == 2, result.output
    assert f"--endpoint http://127.0.0.1:{port}/v1: cannot list its models" in " ".join(result.output.split())
    assert not (out / "steps.jsonl").exists()


def test_a_bad_endpoint_flag_is_exit_2_before_anything_starts(tmp_path):
    out = tmp_path / "run"
    result = CliRunner().invoke(app, ["run", "t", "--env", "browser", "--url", "http://127.0.0.1:9/",
                                      "--endpoint", "gpu-box:8000", "--out", str(out)], env={"COLUMNS": "250"})
    assert result.exit_code == 2 and "base URL" in result.output and not out.exists()
