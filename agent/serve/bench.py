"""``bench serve``: a 20-step sliding-window client (UI-TARS-desktop's layout, the last 5 screenshots per request)
against the server with reuse on and with reuse off (off = a fresh session per request: what a stateless server
does), and the same turns through ``MemorySession`` directly (the server's overhead per request).

The model is ``bench memory``'s: a random model of the family with the published checkpoint's text width but one
decoder layer and a small vision tower, 1280x800 screenshots at the family's pixel limits. Per step the three run
back to back (reuse on, reuse off, direct), so load on the machine hits them alike. Prefill time is the server's own
measurement (``guikv.prefill_seconds``); overhead compares the client's wall time per request (HTTP, JSON, image
decoding and hashing, matching, the queue) with the wall time of the direct session's same calls (add, forget,
generate), which feed and decode exactly the same tokens.

Two overhead figures: ``overhead`` compares the two wall times, so it carries the run-to-run noise of the model's
compute (on a busy CPU that noise is larger than the server's work); ``own_overhead`` takes from each wall time its
model time (prefill + decode, as each session measured it) and compares what is left: the server's own work minus
the direct caller's (forget, add), over the direct wall time. The compute noise cancels, so this one resolves a few
per cent.
"""

from __future__ import annotations

import base64
import io
import json
import time
import urllib.request
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

from agent.serve.app import ServerLimits, create_app
from agent.serve.metrics import ServerMetrics
from agent.serve.running import serve_in_thread
from agent.serve.service import ChatService, SessionConfig
from agent.serve.store import SessionStore
from guikv.budget import Budget
from guikv.models import spec_named
from guikv.session import MemorySession
from guikv.testing import TinyShapes, synthetic_screenshot
from guikv.testing.registry import tiny_family

SCALED_DOWN = TinyShapes(hidden_size=256, num_layers=2, num_heads=8, num_kv_heads=2, intermediate_size=512,
                         vision_depth=1, vision_hidden=32)
TASK = "You are a GUI agent. ## User Instruction\nFind the cheapest flight to Oslo and open its booking page."


@dataclass(frozen=True)
class ServeBenchConfig:
    steps: int = 20
    window: int = 5  # screenshots per request
    screenshot: tuple[int, int] = (1280, 800)
    method: str = "gui_kv"
    budget: float = 0.1  # of a full window's tokens, as ``bench memory`` sizes its persistent session
    reply_tokens: int = 8
    family: str = "qwen2_5_vl"
    shapes: TinyShapes | None = None  # None: one layer at the family's published width
    device: str = "cpu"
    min_pixels: int | None = None
    max_pixels: int | None = None


@dataclass
class ServeStepRow:
    step: int
    reuse_prefill_s: float
    no_reuse_prefill_s: float
    reuse_prefill_tokens: int
    no_reuse_prefill_tokens: int
    reuse_cached_tokens: int
    reuse_match: str
    server_request_s: float  # client wall time of the reuse-on request
    direct_s: float  # wall time of the same turn through MemorySession
    server_model_s: float  # of server_request_s: the server session's prefill + decode
    direct_model_s: float  # of direct_s: the direct session's prefill + decode


@dataclass
class ServeBenchResult:
    config: dict
    rows: list[ServeStepRow] = field(default_factory=list)

    def prefill_ratio_from(self, step: int) -> float:
        rows = [r for r in self.rows if r.step >= step]
        return sum(r.no_reuse_prefill_s for r in rows) / max(1e-9, sum(r.reuse_prefill_s for r in rows))

    def overhead(self) -> float:
        """(server wall time - direct wall time) / direct wall time, summed over the steps."""
        server, direct = sum(r.server_request_s for r in self.rows), sum(r.direct_s for r in self.rows)
        return (server - direct) / max(1e-9, direct)

    def own_overhead(self) -> float:
        """(the server's non-model time - the direct caller's non-model time) / direct wall time, summed over the
        steps: the server's own work per request with the model's compute (and its noise) taken out of both."""
        server = sum(r.server_request_s - r.server_model_s for r in self.rows)
        direct = sum(r.direct_s - r.direct_model_s for r in self.rows)
        return (server - direct) / max(1e-9, sum(r.direct_s for r in self.rows))

    def to_dict(self) -> dict:
        return {"config": self.config, "rows": [asdict(r) for r in self.rows],
                "prefill_ratio_from_step_6": self.prefill_ratio_from(6), "server_overhead": self.overhead(),
                "server_own_overhead": self.own_overhead()}


def _data_url(image) -> str:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def _post(url: str, body: dict) -> dict:
    request = urllib.request.Request(url + "/v1/chat/completions", data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=600) as response:
        return json.loads(response.read())


def _window(history: list[dict], window: int) -> list[dict]:
    """UI-TARS-desktop's request: the task, then the history minus all but the newest ``window`` screenshots."""
    images = [i for i, m in enumerate(history) if isinstance(m["content"], list)]
    old = set(images[: max(0, len(images) - window)])
    return [{"role": "user", "content": TASK}] + [m for i, m in enumerate(history) if i not in old]


def run_serve_bench(config: ServeBenchConfig, on_step: Callable[[ServeStepRow], None] | None = None) -> ServeBenchResult:
    spec, family = spec_named(config.family), tiny_family(config.family)
    limits = {}
    if spec.pixels is not None:
        limits = {"min_pixels": spec.pixels.min_pixels if config.min_pixels is None else config.min_pixels,
                  "max_pixels": spec.pixels.max_pixels if config.max_pixels is None else config.max_pixels}
    shapes = config.shapes or family.wide_shapes
    model, processor = family.build(shapes, **limits)
    model = model.to(config.device)
    pads = processor.encode(processor.image_token, [synthetic_screenshot(*config.screenshot)])["input_ids"]
    screenshot_tokens = int((pads == processor.tokenizer.convert_tokens_to_ids(processor.image_token)).sum())
    budget = max(Budget.parse(config.budget).capacity(config.window * (screenshot_tokens + 40) + 60), 16)
    session_config = SessionConfig(config.method, budget)
    server_limits = ServerLimits(max_body_bytes=512 * 2**20, max_tokens=max(64, config.reply_tokens),
                                 default_max_tokens=min(16, max(64, config.reply_tokens)))

    def app(reuse: bool):
        service = ChatService(model, processor, SessionConfig(config.method, budget, reuse=reuse),
                              SessionStore(2**40, 16), ServerMetrics())
        return create_app(service, "bench", limits=server_limits)

    result = ServeBenchResult(config={**asdict(config), "shapes": asdict(shapes), "screenshot_tokens": screenshot_tokens,
                                      "budget_tokens": budget})
    direct = MemorySession(model, processor, session_config.method, budget)
    direct.add("user", TASK)
    screenshots = [synthetic_screenshot(*config.screenshot, seed=step) for step in range(1, config.steps + 1)]
    urls = [_data_url(image) for image in screenshots]
    histories: dict[bool, list[dict]] = {True: [], False: []}
    with serve_in_thread(app(True)) as reuse_url, serve_in_thread(app(False)) as no_reuse_url:
        for step in range(1, config.steps + 1):
            turn = {"role": "user", "content": [{"type": "image_url", "image_url": {"url": urls[step - 1]}}]}
            outs = {}
            for reuse, url in ((True, reuse_url), (False, no_reuse_url)):
                histories[reuse].append(turn)
                body = {"model": "bench", "messages": _window(histories[reuse], config.window),
                        "max_tokens": config.reply_tokens, "temperature": 0}
                started = time.perf_counter()
                out = _post(url, body)
                outs[reuse] = (out, time.perf_counter() - started)
                histories[reuse].append({"role": "assistant", "content": out["choices"][0]["message"]["content"]})
            started = time.perf_counter()
            if step > config.window:
                oldest = next(i for i, m in enumerate(direct.messages) if isinstance(m["content"], list))
                direct.forget([oldest])
            direct.add("user", [{"type": "image", "image": screenshots[step - 1]}])
            reply = direct.generate(config.reply_tokens)
            direct_s = time.perf_counter() - started
            on, on_wall = outs[True]
            off, _ = outs[False]
            if reply.text != on["choices"][0]["message"]["content"]:
                raise RuntimeError(f"step {step}: the server's reply differs from the direct session's; the overhead "
                                   "comparison would not compare the same work")
            row = ServeStepRow(
                step=step,
                reuse_prefill_s=round(on["guikv"]["prefill_seconds"], 4),
                no_reuse_prefill_s=round(off["guikv"]["prefill_seconds"], 4),
                reuse_prefill_tokens=on["guikv"]["prefill_tokens"],
                no_reuse_prefill_tokens=off["guikv"]["prefill_tokens"],
                reuse_cached_tokens=on["usage"]["prompt_tokens_details"]["cached_tokens"],
                reuse_match=on["guikv"]["match"],
                server_request_s=round(on_wall, 4),
                direct_s=round(direct_s, 4),
                server_model_s=round(on["guikv"]["prefill_seconds"] + on["guikv"]["decode_seconds"], 4),
                direct_model_s=round(reply.prefill_seconds + reply.decode_seconds, 4),
            )
            result.rows.append(row)
            if on_step:
                on_step(row)
    return result
