"""Scorers read the model's coordinates in the frame the run's processor resized to (--min-pixels / --max-pixels).

A 700x280 screenshot stays 700x280 under UI-TARS' limits but becomes 336x140 under ``--max-pixels 50176``; a model
that points at the target under the small limits answers in 336x140 pixels, and only scoring in that frame finds the
target. Each benchmark gets one sample whose target sits near the bottom-right corner, where the two frames disagree.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from eval.benchmarks import make_benchmark
from eval.runner import EvalConfig, Replayer
from guikv.models import UI_TARS_PIXEL_LIMITS, PixelLimits, resized_size
from tests.eval.helpers import WIDE, png, write_json, write_jsonl
from tests.eval.test_agentnetbench import point_action, step, trajectory
from tests.eval.test_androidcontrol import element
from tests.eval.test_androidcontrol import record as android_record
from tests.eval.test_mind2web import row as mind2web_row
from tests.eval.test_screenspot_pro import item as pro_item
from tests.eval.test_screenspot_v2 import item as v2_item

RUN_LIMITS = PixelLimits(min_pixels=28 * 28 * 4, max_pixels=50176)  # --min-pixels 3136 --max-pixels 50176
TARGET = (600, 200, 80, 60)  # xywh pixels of the 700x280 screenshot; centre (640, 230)
CENTRE = (640, 230)


def _screenspot_v2(root: Path) -> tuple[Path, Path, str]:
    data, images = root / "v2", root / "v2" / "screenspotv2_image"
    png(images / "a.png", WIDE)
    write_json(data / "screenspot_mobile_v2.json", [v2_item("a.png", "icon", bbox=TARGET)])
    for split in ("desktop", "web"):
        write_json(data / f"screenspot_{split}_v2.json", [])
    return data, images, "mobile/0"


def _screenspot_pro(root: Path) -> tuple[Path, Path, str]:
    base = root / "pro"
    png(base / "images" / "vscode_mac" / "a.png", WIDE)
    x, y, w, h = TARGET
    item = pro_item("v0", "vscode_mac/a.png", "vscode", "macos", "Dev", "icon", bbox=[x, y, x + w, y + h], img_size=list(WIDE))
    write_json(base / "annotations" / "vscode_macos.json", [item])
    return base / "annotations", base / "images", "v0"


def _androidcontrol(root: Path) -> tuple[Path, Path, str]:
    png(root / "images" / "9806" / "screenshot_5.png", WIDE)
    x, y, w, h = TARGET
    tree = [element(0, 700, 0, 280), element(x, x + w, y, y + h, text="Send")]
    action = {"action_type": "click", "x": CENTRE[0], "y": CENTRE[1]}
    write_json(root / "data" / "500_steps.json", [android_record(action, accessibility_tree=tree)])
    return root / "data", root / "images", "0:9806/4"


def _agentnetbench(root: Path) -> tuple[Path, Path, str]:
    data = root / "test_data"
    x, y, w, h = TARGET
    box = [x / WIDE[0], y / WIDE[1], w / WIDE[0], h / WIDE[1]]
    click = point_action("click", CENTRE[0] / WIDE[0], CENTRE[1] / WIDE[1], box)
    write_json(data / "s_a.json", trajectory("s_a", [step("s_a", 0, [click])]))
    png(data / "images" / "s_a_2.png", WIDE)
    return data, data / "images", "s_a/0"


def _mind2web(root: Path) -> tuple[Path, Path, str]:
    samples, images = root / "samples", root / "blocks"
    box = [list(TARGET)]
    write_jsonl(samples / "cross_domain_blocks.jsonl", [mind2web_row("T1", "u1", 0, "CLICK", "", box, {"0": box}, [], 1)])
    for split in ("task", "website"):
        write_jsonl(samples / f"cross_{split}_blocks.jsonl", [])
    png(images / "cross_domain" / "T1_u1" / "0.png", WIDE)
    return samples, images, "domain/T1_u1"


BUILDERS = {
    "screenspot_v2": _screenspot_v2,
    "screenspot_pro": _screenspot_pro,
    "androidcontrol": _androidcontrol,
    "agentnetbench": _agentnetbench,
    "mind2web": _mind2web,
}


def _answer(adapter: str, limits: PixelLimits) -> str:
    """A model output clicking the target's centre, in the pixels of the screenshot resized under ``limits``."""
    width, height = resized_size(WIDE, limits)
    x, y = round(CENTRE[0] * width / WIDE[0]), round(CENTRE[1] * height / WIDE[1])
    if adapter == "opencua":
        return f"## Action:\nclick the target\n## Code:\n```python\npyautogui.click(x={x}, y={y})\n```"
    return f"Thought: the target is at the bottom right.\nAction: click(point='<point>{x} {y}</point>')"


def test_the_two_frames_differ():
    assert resized_size(WIDE, UI_TARS_PIXEL_LIMITS) == (700, 280) and resized_size(WIDE, RUN_LIMITS) == (336, 140)


@pytest.mark.parametrize("adapter", ["ui_tars", "opencua"])
@pytest.mark.parametrize("name", list(BUILDERS))
def test_a_right_point_under_max_pixels_50176_scores_right(tmp_path, name, adapter):
    data, images, sample_id = BUILDERS[name](tmp_path)
    run = make_benchmark(name, data, images, env={}, pixels=RUN_LIMITS)
    sample = run.load().sample(sample_id)
    answer = _answer(adapter, RUN_LIMITS)
    for mode in ("reference", "corrected"):
        score = run.score([answer], sample, adapter, mode)
        assert score.value == 1.0 and score.error is None, (mode, score.details)
    # The same answer read in UI-TARS' default frame lands far left of the target: what the scorers used to do.
    default = make_benchmark(name, data, images, env={})
    assert default.score([answer], default.load().sample(sample_id), adapter, "corrected").value < 0.5


def test_the_runner_scores_with_the_runs_pixel_limits(tmp_path):
    data, images, sample_id = _mind2web(tmp_path)
    config = EvalConfig(
        "mind2web", model="m", adapter="ui_tars", data_dir=data, images_dir=images, min_pixels=3136, max_pixels=50176)
    assert config.pixel_limits == RUN_LIMITS and config.make_benchmark().pixels == RUN_LIMITS
    replayer = Replayer(config)  # what every sweep (and every Ray worker) scores with; no model is loaded here
    assert replayer.bench.pixels == RUN_LIMITS and replayer.data.sample(sample_id).pixels == RUN_LIMITS
    assert replayer.bench.score([_answer("ui_tars", RUN_LIMITS)], replayer.data.sample(sample_id), "ui_tars").value == 1.0
    assert config.runs(replayer.bench)[0].pixels == (3136, 50176)  # and the run's identity records them


def test_pixels_are_not_a_benchmark_option(tmp_path):
    """The limits come from --min-pixels/--max-pixels (the processor's), never from a second, disagreeing --option."""
    data, images, _ = _mind2web(tmp_path)
    assert "pixels" not in make_benchmark("mind2web", data, images, env={}).option_defaults()
    with pytest.raises(ValueError, match="mind2web has no option pixels"):
        EvalConfig("mind2web", model="m", adapter="ui_tars", data_dir=data, images_dir=images, options={"pixels": "3136,50176"})
