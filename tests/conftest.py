"""Session-wide fixtures: tiny models (real transformers classes with random weights, built offline, no downloads) and
one real X server (Xvfb) for every desktop test of the run.

One Xvfb for the whole session, here at the root: pyautogui binds a process to the first display it meets, so the
agent and the environment tests must share it (a second server on another display fails the later tests).
"""

from __future__ import annotations

import os
import select
import shutil
import subprocess
from collections.abc import Iterator

import pytest
import torch

from guikv.testing import tiny_processor, tiny_qwen2_5_vl

torch.set_num_threads(2)


@pytest.fixture(scope="session")
def processor():
    return tiny_processor()


@pytest.fixture(scope="session")
def vl_model(processor):
    """Tiny Qwen2.5-VL (M-RoPE, GQA 4/2), float32, sdpa."""
    return tiny_qwen2_5_vl(tokenizer=processor.tokenizer)


@pytest.fixture(scope="session")
def xvfb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A fresh Xvfb (800x600, 24-bit) on a free display number, exported as DISPLAY for the session."""
    executable = shutil.which("Xvfb")
    if executable is None:
        pytest.fail("Xvfb is not installed; the desktop tests need a real X server: apt-get install -y xvfb")
    # Older python-xlib releases fail without an authority file; an empty one in XAUTHORITY keeps ~ untouched.
    authority = tmp_path_factory.mktemp("x11") / "Xauthority"
    authority.touch()
    read_end, write_end = os.pipe()
    # -displayfd: Xvfb picks a free display number and writes it to the pipe once it accepts connections.
    server = subprocess.Popen(
        [executable, "-displayfd", str(write_end), "-screen", "0", "800x600x24", "-nolisten", "tcp"],
        pass_fds=(write_end,),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    os.close(write_end)
    try:
        ready, _, _ = select.select([read_end], [], [], 20)
        number = os.read(read_end, 32).decode().strip() if ready else ""
        if not number:
            server.kill()
            pytest.fail(f"Xvfb did not start: {server.communicate()[1].decode(errors='replace')[-2000:]}")
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("DISPLAY", f":{number}")
            patch.setenv("XAUTHORITY", str(authority))
            yield f":{number}"
    finally:
        os.close(read_end)
        server.terminate()
        server.wait(timeout=10)


@pytest.fixture(autouse=True)
def _pointer_mid_screen(request: pytest.FixtureRequest) -> None:
    """Each desktop test starts with the pointer mid-screen: the X server is shared, and a pointer an earlier test left
    in a corner (the fail-safe tests) would stop any action that uses the pointer where it is."""
    if "xvfb" in request.fixturenames:
        from tests.pointer import move_pointer

        request.getfixturevalue("xvfb")
        move_pointer(400, 300)
