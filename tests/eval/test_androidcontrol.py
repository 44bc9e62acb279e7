"""AndroidControl (UGround 500-step sample): loading, prompts, prediction mapping and the case table in both modes."""

from __future__ import annotations

from pathlib import Path

import pytest

from eval.benchmarks import AndroidControl, BenchmarkDataError, ImageRef, make_benchmark
from eval.benchmarks.androidcontrol import AndroidControlSample, AndroidTruth, smallest_element
from tests.eval.helpers import PORTRAIT, assert_serialisable, garbage, png, ui_tars_click, write_json


def element(x_min, x_max, y_min, y_max, text=None, description=None) -> dict:
    return {
        "text": text,
        "content_description": description,
        "class_name": "android.widget.TextView",
        "is_clickable": True,
        "bbox_pixels": {
            "x_min": x_min,
            "x_max": x_max,
            "y_min": y_min,
            "y_max": y_max,
            "width": x_max - x_min,
            "height": y_max - y_min,
        },
    }


TREE = [
    element(0, 280, 0, 560),  # the whole screen
    element(20, 260, 100, 150, text="To"),
    element(0, 40, 0, 40, description="Navigate Back"),
    [[element(100, 160, 300, 360, description="Gmail app")]],  # nested lists are searched too
]


def record(action: dict, screenshot: str = "9806/screenshot_5.png", **extra) -> dict:
    return {
        "episode_id": 9806,
        "step": 4,
        "goal": "Send an email to Ana.",
        "step_instruction": "Type ana in the To field",
        "previous_actions": ["Open the Gmail app", "Tap the compose button"],
        "screenshot": screenshot,
        "action": action,
        "accessibility_tree": TREE,
        **extra,
    }


@pytest.fixture
def root(tmp_path: Path) -> Path:
    data, images = tmp_path / "data", tmp_path / "images"
    png(images / "9806" / "screenshot_5.png", PORTRAIT)
    garbage(images / "9806" / "broken.png")
    records = [
        record({"action_type": "click", "x": 140, "y": 125}),
        record({"action_type": "click", "x": 140, "y": 125}, screenshot="9806/missing.png"),
        record({"action_type": "type_text", "text": "ana", "x": 140, "y": 125}),
        record({"action_type": "wait"}),
        {k: v for k, v in record({"action_type": "wait"}).items() if k != "goal"},
        record({"action_type": "wait"}, screenshot="9806/broken.png"),
        record({"no_type": True}),
    ]
    write_json(data / "500_steps.json", records)
    return tmp_path


def test_load_from_environment_and_root(root):
    env = {"ANDROIDCONTROL_TEST": str(root / "data"), "ANDROIDCONTROL_IMGS": str(root / "images")}
    from_env = make_benchmark("androidcontrol", env=env).load()
    from_root = make_benchmark("androidcontrol", root / "data", env={}).load()  # images default to ../images
    assert [s.id for s in from_env] == [s.id for s in from_root] == ["0:9806/4", "2:9806/4", "3:9806/4"]
    sample = from_env.sample("2:9806/4")
    assert sample.meta["gt_type"] == "type_text" and sample.image.size == PORTRAIT


def test_bad_records(root):
    data = make_benchmark("androidcontrol", root / "data", env={}).load()
    reasons = {b.index: b.reason for b in data.bad_records}
    assert set(reasons) == {1, 4, 5, 6}
    assert "image not found" in reasons[1]
    assert "missing field 'goal'" in reasons[4]
    assert "cannot be decoded" in reasons[5]
    assert "missing field 'action_type'" in reasons[6]
    assert {b.index: b.meta.get("gt_type") for b in data.bad_records}[1] == "click"


def test_missing_data_file(tmp_path):
    (tmp_path / "images").mkdir()
    with pytest.raises(BenchmarkDataError, match=r"500_steps\.json not found"):
        make_benchmark("androidcontrol", tmp_path, tmp_path / "images", env={}).load()


def test_low_level_requires_the_step_instruction(root):
    path = root / "data" / "500_steps.json"
    write_json(path, [{k: v for k, v in record({"action_type": "wait"}).items() if k != "step_instruction"}])
    high = make_benchmark("androidcontrol", root / "data", env={}).load()
    low = make_benchmark("androidcontrol", root / "data", env={}, instruction_level="low").load()
    assert len(high) == 1 and len(low) == 0
    assert "missing field 'step_instruction'" in low.bad_records[0].reason


@pytest.mark.parametrize(
    ("adapter", "level", "system", "sections"),
    [
        (
            "ui_tars",
            "high",
            True,
            ["## Previous Actions\nOpen the Gmail app\nTap the compose button\n\n## User Instruction\nSend an email to Ana.\n\n"],
        ),
        ("ui_tars", "low", True, ["## User Goal:\nSend an email to Ana.", "## User Instruction\nType ana in the To field\n"]),
        (
            "opencua",
            "high",
            False,
            ["}}'\n\n## Previous Actions\nOpen the Gmail app", "## User Instruction\nSend an email to Ana.\n"],
        ),
        ("opencua", "low", False, ["## User Goal\nSend an email to Ana.", "## User Instruction\nType ana in the To field\n"]),
    ],
)
def test_prompts(root, adapter, level, system, sections):
    data = make_benchmark("androidcontrol", root / "data", env={}, instruction_level=level).load()
    messages = data.sample("0:9806/4").messages(adapter)
    assert (messages[0].role == "system") is system
    if system:
        assert messages[0].text == "You are a helpful assistant. "
    user = messages[-1]
    assert [i.path.name for i in user.images] == ["screenshot_5.png"] and user.content[0] == user.images[0]
    for section in sections:
        assert section in user.text


def test_smallest_element_wins_and_edges_are_inclusive():
    assert smallest_element(140, 125, TREE)["text"] == "To"
    assert smallest_element(20, 100, TREE)["text"] == "To"
    assert smallest_element(130, 330, TREE)["content_description"] == "Gmail app"
    assert smallest_element(500, 10, TREE) is None


@pytest.fixture
def scorer(tmp_path: Path):
    image = ImageRef.inspect(png(tmp_path / "s.png", PORTRAIT))  # 280x560: smart resize keeps it, pixels = model pixels
    bench = AndroidControl(data_dir=tmp_path, images_dir=tmp_path)

    def score(adapter, output, action, mode):
        sample = AndroidControlSample(
            "s",
            "androidcontrol",
            AndroidTruth(action, tuple(TREE)),
            {"index": 0, "gt_type": action.get("action_type", "")},
            image=image,
            goal="g",
            step_instruction="s",
            previous_actions=(),
            level="high",
        )
        return bench.score(output, sample, adapter, mode)

    return score


CLICK_TO = {"action_type": "click", "x": 140, "y": 125}
TYPE_TO = {"action_type": "type_text", "text": "ana", "x": 140, "y": 125}
CASES = [
    # (case, adapter, output, GT action, reference, corrected)
    ("click inside the smallest GT element", "ui_tars", ui_tars_click(150, 130), CLICK_TO, 1, 1),
    ("click on the element edge (inclusive)", "ui_tars", ui_tars_click(20, 150), CLICK_TO, 1, 1),
    ("click in a larger element only", "ui_tars", ui_tars_click(150, 400), CLICK_TO, 0, 0),
    ("GT click without coordinates", "ui_tars", ui_tars_click(150, 130), {"action_type": "click"}, 0, 0),
    (
        "long_press vs long_press",
        "ui_tars",
        ui_tars_click(150, 130, "long_press"),
        {**CLICK_TO, "action_type": "long_press"},
        1,
        1,
    ),
    ("click vs long_press", "ui_tars", ui_tars_click(150, 130), {**CLICK_TO, "action_type": "long_press"}, 0, 0),
    # quirk "type_text unreachable" (§2.6)
    ("type vs type_text", "ui_tars", "Action: type(content='ana')", TYPE_TO, 0, 1),
    ("type with submit vs type_text", "ui_tars", "Action: type(content='ana\\n')", TYPE_TO, 0, 1),
    ("type text is case-sensitive", "ui_tars", "Action: type(content='Ana')", TYPE_TO, 0, 0),
    ("OpenCUA write vs type_text", "opencua", "pyautogui.write(message='ana')", TYPE_TO, 0, 1),
    ("click on the app vs open_app", "ui_tars", ui_tars_click(130, 330), {"action_type": "open_app", "app_name": "Gmail"}, 1, 1),
    ("click elsewhere vs open_app", "ui_tars", ui_tars_click(150, 130), {"action_type": "open_app", "app_name": "Gmail"}, 0, 0),
    ("click on back vs navigate_back", "ui_tars", ui_tars_click(10, 10), {"action_type": "navigate_back"}, 1, 1),
    ("press_back vs navigate_back", "ui_tars", "Action: press_back()", {"action_type": "navigate_back"}, 1, 1),
    ("click elsewhere vs navigate_back", "ui_tars", ui_tars_click(150, 130), {"action_type": "navigate_back"}, 0, 0),
    (
        "scroll direction matches",
        "ui_tars",
        "Action: scroll(point='<point>140 280</point>', direction='down')",
        {"action_type": "scroll", "direction": "down"},
        1,
        1,
    ),
    (
        "scroll direction differs",
        "ui_tars",
        "Action: scroll(point='<point>140 280</point>', direction='up')",
        {"action_type": "scroll", "direction": "down"},
        0,
        0,
    ),
    ("wait vs wait", "ui_tars", "Action: wait()", {"action_type": "wait"}, 1, 1),
    (
        "finished successful vs status",
        "ui_tars",
        "Action: finished(content='successful')",
        {"action_type": "status", "goal_status": "successful"},
        1,
        1,
    ),
    (
        "finished free text coerced to infeasible",
        "ui_tars",
        "Action: finished(content='I cannot find it')",
        {"action_type": "status", "goal_status": "infeasible"},
        1,
        1,
    ),
    (
        "finished free text coerced to successful",
        "ui_tars",
        "Action: finished(content='all done')",
        {"action_type": "status", "goal_status": "infeasible"},
        0,
        0,
    ),
    # quirk "navigate_home / open_app unreachable"
    ("press_home vs navigate_home", "ui_tars", "Action: press_home()", {"action_type": "navigate_home"}, 0, 1),
    (
        "open_app vs open_app (reference accepts any app)",
        "ui_tars",
        "Action: open_app(app_name='Chrome')",
        {"action_type": "open_app", "app_name": "Gmail"},
        1,
        0,
    ),
    (
        "open_app with the right app",
        "ui_tars",
        "Action: open_app(app_name='gmail')",
        {"action_type": "open_app", "app_name": "Gmail"},
        1,
        1,
    ),
    ("OpenCUA click", "opencua", "pyautogui.click(x=150, y=130)", CLICK_TO, 1, 1),
    ("OpenCUA doubleClick counts as click", "opencua", "pyautogui.doubleClick(x=150, y=130)", CLICK_TO, 1, 1),
    # quirk "OpenCUA scroll never correct"
    ("OpenCUA scroll down", "opencua", "pyautogui.scroll(-5)", {"action_type": "scroll", "direction": "down"}, 0, 1),
    ("OpenCUA scroll up", "opencua", "pyautogui.scroll(5)", {"action_type": "scroll", "direction": "up"}, 0, 1),
    # quirk "OpenCUA press maps to nothing"
    ("OpenCUA press home", "opencua", "pyautogui.press('home')", {"action_type": "navigate_home"}, 0, 1),
    ("OpenCUA press escape", "opencua", "pyautogui.press('escape')", {"action_type": "navigate_back"}, 0, 1),
    (
        "OpenCUA terminate failure",
        "opencua",
        "computer.terminate(status='failure')",
        {"action_type": "status", "goal_status": "infeasible"},
        1,
        1,
    ),
    ("unparseable output", "ui_tars", "Action: click(point=)", CLICK_TO, 0, 0),
    ("no Action", "ui_tars", "Thought: ...", {"action_type": "wait"}, 0, 0),
]


@pytest.mark.parametrize(("case", "adapter", "output", "action", "reference", "corrected"), CASES, ids=[c[0] for c in CASES])
def test_step_correctness(scorer, case, adapter, output, action, reference, corrected):
    assert scorer(adapter, output, action, "reference").value == reference
    assert scorer(adapter, output, action, "corrected").value == corrected


def test_score_records_the_prediction(scorer):
    score = scorer(
        "ui_tars", "Action: scroll(point='<point>140 280</point>', direction='down')", {"action_type": "scroll"}, "reference"
    )
    assert score.prediction == {"operation": "scroll", "click_point": [0.5, 0.5], "direction": "down", "content": ""}
    assert scorer("ui_tars", "Action: click(point=)", CLICK_TO, "reference").error


@pytest.mark.parametrize(
    ("mode", "metrics"),
    [
        # quirk "grounding misaligned": results 0, 2, 3 are paired with records 0, 1, 2 (record 1 was skipped)
        (
            "reference",
            {
                "step_accuracy": 2 / 3,
                "correct_steps": 2,
                "total_steps": 3,
                "grounding_accuracy": 2 / 3,
                "correct_grounding_steps": 2,
                "grounding_steps": 3,
            },
        ),
        (
            "corrected",
            {
                "step_accuracy": 1.0,
                "correct_steps": 3,
                "total_steps": 3,
                "grounding_accuracy": 1.0,
                "correct_grounding_steps": 2,
                "grounding_steps": 2,
            },
        ),
    ],
)
def test_summary(root, mode, metrics):
    bench = make_benchmark("androidcontrol", root / "data", env={})
    data = bench.load()
    outputs = {"0:9806/4": ui_tars_click(150, 130), "2:9806/4": "Action: type(content='ana')", "3:9806/4": "Action: wait()"}
    scores = [bench.score(outputs[s.id], s, "ui_tars", mode) for s in data]
    summary = bench.summarize(scores, data, mode)
    assert_serialisable(summary, scores)
    for key, value in metrics.items():
        assert summary["metrics"][key] == pytest.approx(value), key
    assert summary["bad_records"]["count"] == 4 and summary["scoring_mode"] == mode
