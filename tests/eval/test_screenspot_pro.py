"""ScreenSpot Pro: annotation files, xyxy boxes in the annotated img_size frame, grouped metrics in both modes."""

from __future__ import annotations

from pathlib import Path

import pytest

from eval.benchmarks import BenchmarkDataError, make_benchmark
from tests.eval.helpers import WIDE, assert_serialisable, png, ui_tars_click, write_json


def item(sample_id: str, image: str, app: str, platform: str, group: str, ui_type: str, **extra) -> dict:
    # The screenshot file is 700x280 but annotated as 1400x560: boxes live in the annotated frame.
    return {
        "id": sample_id,
        "img_filename": image,
        "bbox": [200, 100, 280, 140],
        "img_size": [1400, 560],
        "instruction": f"open {sample_id}",
        "instruction_cn": "打开",
        "application": app,
        "platform": platform,
        "group": group,
        "ui_type": ui_type,
        **extra,
    }


@pytest.fixture
def root(tmp_path: Path) -> Path:
    base = tmp_path / "ScreenSpot-Pro"
    png(base / "images" / "vscode_mac" / "a.png", WIDE)
    png(base / "images" / "photoshop_windows" / "b.png", WIDE)
    write_json(
        base / "annotations" / "vscode_macos.json",
        [
            item("vscode_macos_0", "vscode_mac/a.png", "vscode", "macos", "Dev", "text"),
            item("vscode_macos_1", "vscode_mac/a.png", "vscode", "macos", "Dev", "icon"),
            {
                k: v
                for k, v in item("vscode_macos_2", "vscode_mac/a.png", "vscode", "macos", "Dev", "icon").items()
                if k != "ui_type"
            },
            item("vscode_macos_0", "vscode_mac/a.png", "vscode", "macos", "Dev", "text"),  # duplicate id
            item("vscode_macos_4", "vscode_mac/gone.png", "vscode", "macos", "Dev", "text"),
        ],
    )
    write_json(
        base / "annotations" / "photoshop_windows.json",
        [
            item("photoshop_windows_0", "photoshop_windows/b.png", "photoshop", "windows", "Creative", "icon"),
            item("photoshop_windows_1", "photoshop_windows/b.png", "photoshop", "windows", "Creative", "text", img_size=[0, 560]),
        ],
    )
    write_json(base / "annotations" / "notes.json", {"not": "a list"})
    return base


def test_load_from_environment_and_root(root):
    env = {"SCREENSPOTPRO_TEST": str(root / "annotations"), "SCREENSPOTPRO_IMGS": str(root / "images")}
    from_env = make_benchmark("screenspot_pro", env=env).load()
    from_root = make_benchmark("screenspot_pro", root / "annotations", env={}).load()  # images default to ../images
    ids = ["photoshop_windows_0", "vscode_macos_0", "vscode_macos_1"]
    assert [s.id for s in from_env] == [s.id for s in from_root] == ids
    meta = from_env.sample("vscode_macos_1").meta
    assert (meta["group"], meta["platform"], meta["application"], meta["ui_type"], meta["task_filename"]) == (
        "Dev",
        "macos",
        "vscode",
        "icon",
        "vscode_macos",
    )


def test_bad_records(root):
    data = make_benchmark("screenspot_pro", root / "annotations", env={}).load()
    reasons = {(Path(b.path).name, b.index): b.reason for b in data.bad_records}
    assert set(reasons) == {
        ("notes.json", None),
        ("vscode_macos.json", 2),
        ("vscode_macos.json", 3),
        ("vscode_macos.json", 4),
        ("photoshop_windows.json", 1),
    }
    assert "expected a JSON list" in reasons[("notes.json", None)]
    assert "missing field 'ui_type'" in reasons[("vscode_macos.json", 2)]
    assert "used by an earlier record" in reasons[("vscode_macos.json", 3)]
    assert "image not found" in reasons[("vscode_macos.json", 4)]
    assert "img_size" in reasons[("photoshop_windows.json", 1)]


def test_no_annotation_files(tmp_path):
    (tmp_path / "annotations").mkdir()
    (tmp_path / "images").mkdir()
    with pytest.raises(BenchmarkDataError, match=r"no \*\.json annotation file"):
        make_benchmark("screenspot_pro", tmp_path / "annotations", env={}).load()


def test_prompt_is_the_grounding_prompt(root):
    sample = make_benchmark("screenspot_pro", root / "annotations", env={}).load().sample("vscode_macos_0")
    (message,) = sample.messages("ui_tars")
    assert message.text.endswith("## User Instruction\nopen vscode_macos_0")
    (message,) = sample.messages("opencua")
    assert message.text.endswith("to complete the task.\nopen vscode_macos_0")


CASES = [
    # box [200,100,280,140] in 1400x560 = x 1/7..1/5, y 0.18..0.25; on the 700x280 file: x 100-140, y 50-70 px
    ("inside, in the annotated frame", "ui_tars", ui_tars_click(120, 60), "correct", "correct"),
    ("on the corner (inclusive)", "ui_tars", ui_tars_click(140, 70), "correct", "correct"),
    ("outside", "ui_tars", ui_tars_click(200, 60), "wrong", "wrong"),
    ("OpenCUA inside", "opencua", "pyautogui.click(x=100, y=50)", "correct", "correct"),
    # quirk "parse errors recorded as wrong" (§4.4)
    ("UI-TARS unparseable", "ui_tars", "Action: click(point=)", "wrong", "wrong_format"),
    ("OpenCUA without a click", "opencua", "computer.terminate(status='success')", "wrong", "wrong_format"),
]


@pytest.mark.parametrize(("case", "adapter", "output", "reference", "corrected"), CASES, ids=[c[0] for c in CASES])
def test_item_correctness(root, case, adapter, output, reference, corrected):
    bench = make_benchmark("screenspot_pro", root / "annotations", env={})
    sample = bench.load().sample("vscode_macos_0")
    for mode, correctness in (("reference", reference), ("corrected", corrected)):
        score = bench.score(output, sample, adapter, mode)
        assert score.details["correctness"] == correctness, mode
        assert score.value == (correctness == "correct")
        assert score.details["task_filename"] == "vscode_macos" and score.details["lang"] == "en"


@pytest.mark.parametrize("mode", ["reference", "corrected"])
def test_summary(root, mode):
    bench = make_benchmark("screenspot_pro", root / "annotations", env={})
    data = bench.load()
    outputs = {
        "vscode_macos_0": ui_tars_click(120, 60),
        "vscode_macos_1": "garbled",
        "photoshop_windows_0": ui_tars_click(120, 60),
    }
    scores = [bench.score(outputs[s.id], s, "ui_tars", mode) for s in data]
    summary = bench.summarize(scores, data, mode)
    assert_serialisable(summary, scores)
    wrong_format = 0 if mode == "reference" else 1
    assert (summary["total_samples"], summary["wrong_format_samples"]) == (3, wrong_format)
    assert summary["overall_accuracy"] == pytest.approx(2 / 3)
    assert (summary["text_accuracy"], summary["icon_accuracy"]) == (1.0, 0.5)
    metrics = summary["metrics"]
    assert metrics["leaderboard_simple_style"]["group:Dev"]["action_acc"] == 0.5
    assert metrics["leaderboard_simple_style"]["group:Creative"]["num_correct_action"] == 1
    assert metrics["leaderboard_detailed_style"]["app:vscode"] == {
        "num_correct_action": 1,
        "num_total": 2,
        "wrong_format_num": wrong_format,
        "action_acc": 0.5,
        "text_acc": 1.0,
        "icon_acc": 0.0,
    }
    assert metrics["seeclick_style"]["plat:macos inst_style:instruction gt_type:positive"]["num_total"] == 2
    assert metrics["fine_grained"]["plat:windows app:photoshop inst_style:instruction gt_type:positive"]["action_acc"] == 1.0
    assert summary["bad_records"]["count"] == 5
