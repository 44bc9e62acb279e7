"""ScreenSpot v2: loading the three split files, grounding prompts, point-in-box scoring, both summary averages."""

from __future__ import annotations

from pathlib import Path

import pytest

from eval.benchmarks import BenchmarkDataError, make_benchmark
from tests.eval.helpers import WIDE, assert_serialisable, garbage, png, ui_tars_click, write_json


def item(name: str, data_type: str, bbox=(100, 50, 40, 20), **extra) -> dict:
    return {
        "img_filename": name,
        "bbox": list(bbox),
        "instruction": f"press {name}",
        "data_type": data_type,
        "data_source": "ios",
        **extra,
    }


@pytest.fixture
def root(tmp_path: Path) -> Path:
    data = tmp_path / "ScreenSpot-v2"
    images = data / "screenspotv2_image"
    for name in ("m1.png", "m2.png", "d1.png", "d2.png", "d3.png", "w1.png", "w2.png"):
        png(images / name, WIDE)
    garbage(images / "bad.png")
    write_json(
        data / "screenspot_mobile_v2.json",
        [
            item("m1.png", "text"),
            item("m2.png", "icon"),
            {"img_filename": "m1.png", "instruction": "no box", "data_type": "text"},
            item("bad.png", "icon"),
            item("gone.png", "icon"),
        ],
    )
    write_json(data / "screenspot_desktop_v2.json", [item("d1.png", "text"), item("d2.png", "text"), item("d3.png", "icon")])
    write_json(data / "screenspot_web_v2.json", [item("w1.png", "text"), item("w2.png", "icon")])
    return data


def test_load_from_environment_and_root(root):
    env = {"SCREENSPOT_TEST": str(root), "SCREENSPOT_IMGS": str(root / "screenspotv2_image")}
    from_env = make_benchmark("screenspot_v2", env=env).load()
    from_root = make_benchmark("screenspot_v2", root, env={}).load()
    ids = ["mobile/0", "mobile/1", "desktop/0", "desktop/1", "desktop/2", "web/0", "web/1"]
    assert [s.id for s in from_env] == [s.id for s in from_root] == ids
    assert from_env.sample("desktop/2").meta == {
        "split": "desktop",
        "index": 2,
        "data_type": "icon",
        "data_source": "ios",
        "img_filename": "d3.png",
    }


def test_bad_records(root):
    data = make_benchmark("screenspot_v2", root, env={}).load()
    reasons = {(Path(b.path).name, b.index): b.reason for b in data.bad_records}
    assert set(reasons) == {("screenspot_mobile_v2.json", 2), ("screenspot_mobile_v2.json", 3), ("screenspot_mobile_v2.json", 4)}
    assert "missing field 'bbox'" in reasons[("screenspot_mobile_v2.json", 2)]
    assert "cannot be decoded" in reasons[("screenspot_mobile_v2.json", 3)]
    assert "image not found" in reasons[("screenspot_mobile_v2.json", 4)]


def test_missing_split_file_and_split_choice(root):
    (root / "screenspot_web_v2.json").unlink()
    with pytest.raises(BenchmarkDataError, match=r"screenspot_web_v2\.json not found"):
        make_benchmark("screenspot_v2", root, env={}).load()
    data = make_benchmark("screenspot_v2", root, env={}, splits=("desktop",)).load()
    assert [s.id for s in data] == ["desktop/0", "desktop/1", "desktop/2"]
    with pytest.raises(ValueError, match="splits"):
        make_benchmark("screenspot_v2", root, env={}, splits=("tablet",))


@pytest.mark.parametrize(
    ("adapter", "text"),
    [
        (
            "ui_tars",
            "You are a GUI agent. You are given a task and your action history, with screenshots. You need to perform "
            "the next action to complete the task. \n\n## Output Format\n\nAction: ...\n\n\n## Action Space\n"
            "click(point='<point>x1 y1</point>'')\n\n## User Instruction\npress m1.png",
        ),
        (
            "opencua",
            "You are a GUI agent. You are given a task and a screenshot of the screen. You need to perform a series "
            "of pyautogui actions to complete the task.\npress m1.png",
        ),
    ],
)
def test_prompt(root, adapter, text):
    sample = make_benchmark("screenspot_v2", root, env={}).load().sample("mobile/0")
    (message,) = sample.messages(adapter)
    assert message.role == "user" and message.content[0].path.name == "m1.png" and message.content[1] == text


CASES = [
    # (case, adapter, output, correctness) for the box x 100-140, y 50-70 on a 700x280 screenshot
    ("UI-TARS click inside", "ui_tars", ui_tars_click(120, 60), "correct"),
    ("UI-TARS click on the right edge (inclusive)", "ui_tars", ui_tars_click(140, 70), "correct"),
    ("UI-TARS click just outside", "ui_tars", ui_tars_click(141, 60), "wrong"),
    ("UI-TARS old box format", "ui_tars", "Action: click(start_box='(120,60)')", "correct"),
    ("UI-TARS non-point action", "ui_tars", "Action: finished(content='done')", "wrong_format"),
    ("UI-TARS no action", "ui_tars", "I think it is the gear icon", "wrong_format"),
    ("OpenCUA keyword click", "opencua", "## Code:\n```python\npyautogui.click(x=120, y=60)\n```", "correct"),
    ("OpenCUA positional click", "opencua", "pyautogui.click(120, 60)", "correct"),
    ("OpenCUA first click-like line wins", "opencua", "pyautogui.moveTo(x=300, y=200)\npyautogui.click(x=120, y=60)", "wrong"),
    ("OpenCUA no click line", "opencua", "pyautogui.write(message='x')", "wrong_format"),
]


@pytest.mark.parametrize("mode", ["reference", "corrected"])
@pytest.mark.parametrize(("case", "adapter", "output", "correctness"), CASES, ids=[c[0] for c in CASES])
def test_item_scores(root, mode, case, adapter, output, correctness):
    bench = make_benchmark("screenspot_v2", root, env={})
    score = bench.score(output, bench.load().sample("mobile/0"), adapter, mode)
    assert score.details["correctness"] == correctness
    assert score.value == (1.0 if correctness == "correct" else 0.0)
    assert score.details["bbox"] == pytest.approx([100 / 700, 50 / 280, 140 / 700, 70 / 280])
    assert (score.error is not None) is (correctness == "wrong_format")


OUTPUTS = {
    "mobile/0": ui_tars_click(120, 60),
    "mobile/1": ui_tars_click(10, 10),  # text 1/1, icon 0/1
    "desktop/0": ui_tars_click(120, 60),
    "desktop/1": ui_tars_click(10, 10),
    "desktop/2": ui_tars_click(120, 60),  # text 1/2, icon 1/1
    "web/0": "no action",
    "web/1": ui_tars_click(120, 60),  # text 0/1 (wrong format), icon 1/1
}


@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        # quirk "overall average": mean of the six split x type cells; wrong-format items left out of total_samples
        ("reference", {"overall_accuracy": (0.5 + 2 / 3) / 2, "text_accuracy": 0.5, "icon_accuracy": 2 / 3, "total_samples": 6}),
        ("corrected", {"overall_accuracy": 4 / 7, "text_accuracy": 2 / 4, "icon_accuracy": 2 / 3, "total_samples": 7}),
    ],
)
def test_summary(root, mode, expected):
    bench = make_benchmark("screenspot_v2", root, env={})
    data = bench.load()
    scores = [bench.score(OUTPUTS[s.id], s, "ui_tars", mode) for s in data]
    summary = bench.summarize(scores, data, mode)
    assert_serialisable(summary, scores)
    for key, value in expected.items():
        assert summary[key] == pytest.approx(value), key
    assert summary["micro_accuracy"] == pytest.approx(4 / 7)
    assert summary["cell_mean_accuracy"] == pytest.approx((0.5 + 2 / 3) / 2)
    assert summary["wrong_format_samples"] == 1 and summary["task"] == "all"
    assert [(b["task"], b["text_accuracy"], b["icon_accuracy"]) for b in summary["task_breakdown"]] == [
        ("mobile", 1.0, 0.0),
        ("desktop", 0.5, 1.0),
        ("web", 0.0, 1.0),
    ]
    assert summary["task_breakdown"][1]["combined_accuracy"] == 0.75
    assert summary["bad_records"]["count"] == 3
