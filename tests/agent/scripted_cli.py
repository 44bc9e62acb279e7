"""``guikv-agent`` with scripted model answers, for tests that drive the real CLI in a subprocess:

    python -m tests.agent.scripted_cli REPLIES.json run "task" --model TINY_FOLDER ...

Everything is real (the CLI, the environment, the tiny model: it loads, every generation runs and its tokens enter the
KV cache) except the TEXT of each answer, which is replaced by the next entry of REPLIES.json: no real model can be
made to write a chosen answer. Once the list is used up its last entry repeats. An entry is a string, or
``{"text": ..., "pointer": [x, y]}``: before that answer is returned the mouse pointer is moved to ``(x, y)`` with
python-xlib's XTEST extension, as a person grabbing the mouse would (the fail-safe corner).
"""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

from tests.pointer import move_pointer


def main() -> None:
    replies = json.loads(Path(sys.argv[1]).read_text(encoding="utf-8"))
    if not isinstance(replies, list) or not replies:
        raise SystemExit("REPLIES.json must hold a non-empty list of answers")

    from guikv.session import MemorySession

    real_generate = MemorySession.generate
    calls = {"count": 0}

    def scripted_generate(self, *args, **kwargs):
        reply = real_generate(self, *args, **kwargs)
        entry = replies[min(calls["count"], len(replies) - 1)]
        calls["count"] += 1
        if isinstance(entry, dict):
            if "pointer" in entry:
                move_pointer(*entry["pointer"])
            entry = entry["text"]
        return dataclasses.replace(reply, text=entry)

    MemorySession.generate = scripted_generate
    from agent.cli import app

    sys.argv = ["guikv-agent", *sys.argv[2:]]
    app()


if __name__ == "__main__":
    main()
