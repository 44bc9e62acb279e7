"""Qwen3-VL in eval: the cookbook's computer_use prompts and tool-call parsing on ScreenSpot v2 / Pro (grounding) and
AgentNetBench; malformed, truncated and hostile outputs are scored as wrong with the reason, never a crash."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from eval.benchmarks import make_benchmark
from eval.benchmarks.agentnetbench_scoring import qwen3_vl_actions
from eval.benchmarks.shared_prompts import QWEN3_VL_SYSTEM
from eval.runner import EvalConfig
from guikv.models.qwen3_vl_tools import render_system_prompt
from tests.eval.helpers import WIDE, png, write_json
from tests.eval.test_agentnetbench import BOX, key_action, point_action, step, terminate_action, trajectory, write_action
from tests.eval.test_screenspot_pro import item as pro_item
from tests.eval.test_screenspot_v2 import item as v2_item


def call(action: str, **arguments) -> str:
    return "<tool_call>\n" + json.dumps({"name": "computer_use", "arguments": {"action": action, **arguments}}) + "\n</tool_call>"


@pytest.fixture
def v2(tmp_path: Path):
    data = tmp_path / "ScreenSpot-v2"
    png(data / "screenspotv2_image" / "m1.png", WIDE)  # 700x280; box x 100-140, y 50-70 px = x 143-200, y 179-250 /1000
    write_json(data / "screenspot_mobile_v2.json", [v2_item("m1.png", "text")])
    write_json(data / "screenspot_desktop_v2.json", [])
    write_json(data / "screenspot_web_v2.json", [])
    bench = make_benchmark("screenspot_v2", data, env={})
    return bench, bench.load().sample("mobile/0")


def test_grounding_prompt_is_the_cookbooks(v2):
    _, sample = v2
    system, user = sample.messages("qwen3_vl")
    assert system.role == "system" and system.text == QWEN3_VL_SYSTEM == render_system_prompt("computer_use")
    assert QWEN3_VL_SYSTEM.startswith("You are a helpful assistant.\n\n# Tools")
    assert "The screen's resolution is 1000x1000." in QWEN3_VL_SYSTEM and '"name": "computer_use"' in QWEN3_VL_SYSTEM
    assert user.role == "user" and user.content[0] is sample.image and user.text == "press m1.png"  # [image, query]


GROUNDING = [
    ("left_click inside", call("left_click", coordinate=[170, 210]), "correct"),
    ("thought then call", "I will press it.\n" + call("double_click", coordinate=[143, 179]), "correct"),  # inclusive corner
    ("outside", call("left_click", coordinate=[500, 210]), "wrong"),
    ("no coordinate, then a click", call("wait", time=1) + "\n" + call("left_click", coordinate=[170, 210]), "correct"),
    ("no tool call", "The button is at (170, 210).", "wrong_format"),
    ("truncated", '<tool_call>\n{"name": "computer_use", "arguments": {"action": "left_cl', "wrong_format"),
    ("not JSON", "<tool_call>\nleft_click(170, 210)\n</tool_call>", "wrong_format"),
    ("NaN", '<tool_call>{"name": "computer_use", "arguments": {"action": "left_click", "coordinate": [NaN, 1]}}</tool_call>',
     "wrong_format"),
    ("huge integer", call("left_click", coordinate=[10**40, 5]), "wrong_format"),
    ("string coordinate", call("left_click", coordinate=["170", "210"]), "wrong_format"),
    ("three numbers", call("left_click", coordinate=[170, 210, 3]), "wrong_format"),
    ("undeclared tool", call("left_click", coordinate=[170, 210]).replace("computer_use", "browser"), "wrong_format"),
    ("deep nesting", "<tool_call>" + "[" * 50 + "]" * 50 + "</tool_call>", "wrong_format"),
    ("action not a string", call("left_click", coordinate=[170, 210]).replace('"left_click"', "7"), "wrong_format"),
]


@pytest.mark.parametrize(("case", "output", "correctness"), GROUNDING, ids=[c[0] for c in GROUNDING])
def test_screenspot_v2_scores_computer_use_calls(v2, case, output, correctness):
    bench, sample = v2
    for mode in ("reference", "corrected"):
        score = bench.score(output, sample, "qwen3_vl", mode)
        assert score.details["correctness"] == correctness, (mode, score.error)
        assert score.value == (correctness == "correct")
        assert (score.error is not None) == (correctness == "wrong_format")


def test_screenspot_pro_scores_computer_use_calls(tmp_path):
    base = tmp_path / "ScreenSpot-Pro"
    png(base / "images" / "vscode_mac" / "a.png", WIDE)
    annotation = pro_item("vscode_macos_0", "vscode_mac/a.png", "vscode", "macos", "Dev", "text")
    write_json(base / "annotations" / "vscode_macos.json", [annotation])
    bench = make_benchmark("screenspot_pro", base / "annotations", env={})
    sample = bench.load().sample("vscode_macos_0")
    system, user = sample.messages("qwen3_vl")
    assert system.text == QWEN3_VL_SYSTEM and user.text == "open vscode_macos_0"
    # box [200,100,280,140] in the annotated 1400x560 frame = x 143-200, y 179-250 thousandths
    assert bench.score(call("left_click", coordinate=[160, 200]), sample, "qwen3_vl", "corrected").value == 1.0
    assert bench.score(call("left_click", coordinate=[900, 200]), sample, "qwen3_vl", "corrected").value == 0.0
    broken = bench.score("<tool_call>{", sample, "qwen3_vl", "corrected")
    assert broken.details["correctness"] == "wrong_format" and "never closed" in broken.error


@pytest.fixture
def anb(tmp_path: Path):
    data = tmp_path / "test_data"
    truths = [
        [point_action("click", 0.5, 0.5, BOX)],
        [write_action("hello")],
        [key_action("hotkey", "ctrl", "c")],
        [terminate_action("success")],
    ]
    write_json(data / "t.json", trajectory("t", [step("t", i, truth) for i, truth in enumerate(truths)]))
    for i in range(len(truths)):
        png(data / "images" / f"t_{i + 2}.png", WIDE, shade=i)
    bench = make_benchmark("agentnetbench", data, env={})
    return bench, bench.load()


def test_agentnetbench_prompt_history_and_scores(anb):
    bench, data = anb
    sample = data.sample("t/2")
    history = {"t/0": (call("left_click", coordinate=[500, 500]),), "t/1": (call("type", text="hello"),)}
    messages = sample.messages("qwen3_vl", mode="corrected", history=history)
    assert messages[0].role == "system" and messages[0].text == QWEN3_VL_SYSTEM
    assert messages[-1].role == "user" and messages[-1].content[0] is sample.image and messages[-1].text == "Do t"
    assistant = [m.text for m in messages if m.role == "assistant"]
    assert len(assistant) == 2 and history["t/1"][0] in assistant[1]  # the model's own earlier outputs
    expected = {
        "t/0": (call("left_click", coordinate=[500, 500]), 1.0),
        "t/1": (call("type", text="hello"), 1.0),
        "t/2": (call("key", keys=["cmd", "c"]), 1.0),
        "t/3": (call("terminate", status="success"), 1.0),
    }
    for sid, (output, value) in expected.items():
        for mode in ("reference", "corrected"):
            score = bench.score(output, data.sample(sid), "qwen3_vl", mode)
            assert score.value == pytest.approx(value) and score.error is None, (sid, mode, score.details)
    wrong = bench.score(call("terminate", status="failure"), data.sample("t/3"), "qwen3_vl", "corrected")
    assert wrong.value == 0.0
    cut = bench.score('<tool_call>\n{"name": "computer_use"', data.sample("t/0"), "qwen3_vl", "corrected")
    assert cut.value == 0.0 and "never closed" in cut.error


def test_qwen3_vl_action_mapping():
    text = "\n".join([
        call("mouse_move", coordinate=[100, 200]), call("left_click_drag", coordinate=[300, 400]),
        call("scroll", coordinate=[500, 500], pixels=-3), call("key", keys=["Enter"]), call("middle_click", coordinate=[1, 1]),
        call("answer", text="42"),
    ])
    assert qwen3_vl_actions(text, 1, 1, "corrected") == [
        ("moveto", (0.1, 0.2)), ("dragto", (0.3, 0.4)), ("moveto", (0.5, 0.5)), ("scroll", -3), ("press", ["enter"]),
    ]
    assert ("moveto", (0.5, 0.5)) not in qwen3_vl_actions(call("scroll", coordinate=[500, 500], pixels=2), 1, 1, "reference")
    from eval.parsing import ActionParseError

    for bad in (call("key", keys=[]), call("key", keys="ctrl"), call("scroll", pixels="lots")):
        with pytest.raises(ActionParseError):
            qwen3_vl_actions(bad, 1, 1, "corrected")


@pytest.mark.parametrize("benchmark", ["androidcontrol", "mind2web"])
def test_benchmarks_without_qwen3_vl_prompts_refuse_it_before_loading(tmp_path, benchmark):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "qwen3_vl"}))
    with pytest.raises(ValueError, match=f"{benchmark} has no prompts for the qwen3_vl format.*serves ui_tars, opencua"):
        EvalConfig(benchmark, model=str(tmp_path))
