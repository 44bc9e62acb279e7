"""Multimodal-Mind2Web (UGround blocks): loading, the scroll loop, history, element/F1/step scoring, macro summaries."""

from __future__ import annotations

from pathlib import Path

import pytest

from eval.benchmarks import BenchmarkDataError, ImageRef, Mind2Web, make_benchmark
from eval.benchmarks.mind2web import Mind2WebSample, Mind2WebTruth
from guikv.models import UI_TARS_PIXEL_LIMITS, resized_size
from tests.eval.helpers import SQUARE, assert_serialisable, garbage, png, ui_tars_click, write_jsonl

SHORT = (280, 224)  # a last block shorter than the others: smart resize makes it 336x252
SCROLL_DOWN = "Thought: the target is lower\nAction: scroll(point='<point>140 140</point>', direction='down')"
SCROLL_UP = "Action: scroll(point='<point>140 140</point>', direction='up')"


def row(
    annotation_id: str,
    uid: str,
    step: int,
    operation: str,
    value: str,
    bbox,
    targets,
    previous,
    total: int,
    drop: tuple[str, ...] = (),
) -> dict:
    task = annotation_id
    record = {
        "annotation_id": task,
        "action_uid": uid,
        "task": f"Do {task}",
        "website": "budget",
        "domain": "Travel",
        "subdomain": "Car rental",
        "operation": operation,
        "value": value,
        "bbox": bbox,
        "previous_actions": previous,
        "step": step,
        "total_steps": total,
        "split": "x",
        "blocks_path": f"{task}_{uid}",
        "target_blocks": targets,
    }
    return {k: v for k, v in record.items() if k not in drop}


@pytest.fixture
def root(tmp_path: Path) -> Path:
    samples, images = tmp_path / "samples", tmp_path / "release_images"
    write_jsonl(
        samples / "cross_domain_blocks.jsonl",
        [
            row("T1", "u1", 0, "CLICK", "", [[20, 20, 60, 40]], {"0": [[20, 20, 60, 40]]}, [], 3),
            row(
                "T1",
                "u2",
                1,
                "TYPE",
                "08817",
                [[20, 100, 100, 30]],
                {"0": [[20, 100, 100, 30]]},
                ["[link]  Budget Truck -> CLICK"],
                3,
            ),
            "{not json",
            row("T2", "u3", 0, "SELECT", "March", [[50, 150, 80, 30]], {"0": [[50, 150, 80, 30]]}, [], 1),
            row("T9", "u9", 0, "CLICK", "", [], {}, [], 1, drop=("task",)),  # no 'task' field: bad, its task still counts
            "",
        ],
    )
    write_jsonl(
        samples / "cross_task_blocks.jsonl",
        [
            row(
                "T3",
                "u4",
                0,
                "CLICK",
                "",
                [[40, 320, 50, 30]],
                {"1": [[40, 120, 50, 30]]},
                ["[button]  Reservations -> HOVER"],
                2,
            ),
            row("T3", "u5", 1, "CLICK", "", [[40, 20, 50, 30]], {"0": [[40, 20, 50, 30]]}, ["a -> CLICK"], 2),  # no block image
        ],
    )
    write_jsonl(
        samples / "cross_website_blocks.jsonl",
        [
            row("T4", "u6", 0, "CLICK", "", [[200, 200, 40, 40]], {"0": [[200, 200, 40, 40]]}, ["x -> CLICK"], 1),
        ],
    )
    for split, folder, sizes in (
        ("domain", "T1_u1", (SQUARE, SQUARE, SHORT)),
        ("domain", "T1_u2", (SQUARE,)),
        ("domain", "T2_u3", (SQUARE,)),
        ("domain", "T9_u9", (SQUARE,)),
        ("task", "T3_u4", (SQUARE, SQUARE)),
        ("website", "T4_u6", (SQUARE,)),
    ):
        for k, size in enumerate(sizes):
            png(images / f"cross_{split}" / folder / f"{k}.png", size, shade=k)
    return tmp_path


def load(root: Path, **options):
    bench = make_benchmark("mind2web", root / "samples", root / "release_images", env={}, **options)
    return bench, bench.load()


def test_load_from_environment_and_root(root):
    env = {"MM_MIND2WEB_TEST": str(root / "samples"), "MM_MIND2WEB_IMGS": str(root / "release_images")}
    from_env = make_benchmark("mind2web", env=env).load()
    _, from_root = load(root)
    ids = ["domain/T1_u1", "domain/T1_u2", "domain/T2_u3", "task/T3_u4", "website/T4_u6"]
    assert [s.id for s in from_env] == [s.id for s in from_root] == ids
    first = from_env.sample("domain/T1_u1")
    assert [b.size for b in first.blocks] == [SQUARE, SQUARE, SHORT]
    assert first.meta["split"] == "domain" and first.truth.target_blocks == {"0": ((20.0, 20.0, 60.0, 40.0),)}


def test_bad_records_and_episodes(root):
    _, data = load(root)
    reasons = {(Path(b.path).name, b.index): b.reason for b in data.bad_records}
    assert set(reasons) == {("cross_domain_blocks.jsonl", 2), ("cross_domain_blocks.jsonl", 4), ("cross_task_blocks.jsonl", 1)}
    assert "not valid JSON" in reasons[("cross_domain_blocks.jsonl", 2)]
    assert "missing field 'task'" in reasons[("cross_domain_blocks.jsonl", 4)]
    assert "image not found" in reasons[("cross_task_blocks.jsonl", 1)] and "0.png" in reasons[("cross_task_blocks.jsonl", 1)]
    episodes = {ep.id: (ep.length, ep.sample_ids) for ep in data.episodes}
    assert episodes == {
        "domain/T1": (3, ("domain/T1_u1", "domain/T1_u2")),
        "domain/T2": (1, ("domain/T2_u3",)),
        "domain/T9": (1, ()),
        "task/T3": (2, ("task/T3_u4",)),
        "website/T4": (1, ("website/T4_u6",)),
    }


def test_undecodable_later_block_is_a_bad_record(root):
    garbage(root / "release_images" / "cross_task" / "T3_u4" / "2.png")
    _, data = load(root)
    assert "task/T3_u4" not in [s.id for s in data]
    assert any("2.png" in b.reason and "cannot be decoded" in b.reason for b in data.bad_records)


def test_missing_split_file(root):
    (root / "samples" / "cross_website_blocks.jsonl").unlink()
    with pytest.raises(BenchmarkDataError, match=r"cross_website_blocks\.jsonl not found"):
        load(root)
    _, data = load(root, splits=("domain", "task"))
    assert len(data) == 4


# --- sample construction ----------------------------------------------------------------------------------------


def previous_section(message) -> str:
    return message.text.split("## Previous Actions\n", 1)[1].split("\n\n", 1)[0]


def test_first_row_prompt(root):
    _, data = load(root)
    sample = data.sample("domain/T1_u1")
    system, user = sample.messages("ui_tars", mode="reference")
    assert system.text == "You are a helpful assistant. " and system.role == "system"
    assert [i.path.name for i in user.images] == ["0.png"] and user.images[0].path.parent.name == "T1_u1"
    assert previous_section(user) == "" and "## User Instruction\nDo T1\n\n\n" in user.text
    (user,) = sample.messages("opencua")
    assert "## Rule\n- The `write` action" in user.text and user.text.endswith("## User Instruction\nDo T1\n")


@pytest.mark.parametrize(
    ("mode", "history", "expected"),
    [
        # quirk "stale history": an empty list reuses the previous row's last previous-actions text
        ("reference", {}, "[link]  Budget Truck -> CLICK"),
        (
            "reference",
            {"domain/T1_u2": [SCROLL_DOWN, "Action: type(content='08817')"]},
            "[link]  Budget Truck -> CLICK\nScroll down.",
        ),
        ("corrected", {"domain/T1_u2": [SCROLL_DOWN, "Action: type(content='08817')"]}, ""),
    ],
)
def test_stale_history(root, mode, history, expected):
    _, data = load(root)
    user = data.sample("domain/T2_u3").messages("ui_tars", mode=mode, history=history)[-1]
    assert previous_section(user) == expected


@pytest.mark.parametrize(
    ("turns", "block", "notes", "more"),
    [
        ([], 0, [], True),
        ([SCROLL_DOWN], 1, ["Scroll down."], True),
        ([SCROLL_DOWN, SCROLL_DOWN], 1, ["Scroll down."] * 2, True),  # no block 2: stays, but the note is added
        ([SCROLL_DOWN, SCROLL_UP], 0, ["Scroll down.", "Scroll up."], True),
        ([SCROLL_UP], 0, ["Scroll up."], True),  # already on block 0
        ([SCROLL_DOWN, ui_tars_click(65, 135)], 1, ["Scroll down."], False),
        ([SCROLL_DOWN] * 5, 1, ["Scroll down."] * 5, False),  # at most 5 generations
        (["pyautogui.scroll(-3)"], 1, ["Scroll down."], True),  # OpenCUA: negative amount = down
    ],
)
@pytest.mark.parametrize("mode", ["reference", "corrected"])
def test_scroll_loop(root, turns, block, notes, more, mode):
    _, data = load(root)
    sample = data.sample("task/T3_u4")
    adapter = "opencua" if turns and turns[0].startswith("pyautogui") else "ui_tars"
    assert sample.wants_more(turns, adapter, mode=mode) is more
    user = sample.messages(adapter, mode=mode, turns=turns)[-1]
    assert user.images[0].path.name == f"{block}.png"
    assert previous_section(user) == "\n".join(["[button]  Reservations -> HOVER", *notes])
    assert sample.turn(adapter, mode=mode, turns=turns) == user


def test_persistent_preamble(root):
    _, data = load(root)
    episode = next(ep for ep in data.episodes if ep.id == "domain/T1")
    assert [m.role for m in data.preamble(episode, "ui_tars")] == ["system"]
    assert data.preamble(episode, "opencua") == []


# --- scoring ------------------------------------------------------------------------------------------------------


ROW_CASES = [
    # (case, sample, adapter, turns, reference (element, f1, step), corrected (element, f1, step))
    ("click inside on block 0", "domain/T1_u1", "ui_tars", [ui_tars_click(50, 40)], (True, 1.0, True), (True, 1.0, True)),
    ("click outside", "domain/T1_u1", "ui_tars", [ui_tars_click(150, 40)], (False, 1.0, False), (False, 1.0, False)),
    # quirk "TYPE never step-correct"
    ("type the right text", "domain/T1_u2", "ui_tars", ["Action: type(content='08817')"], (False, 1.0, False), (None, 1.0, True)),
    (
        "type part of the text",
        "domain/T1_u2",
        "ui_tars",
        ["Action: type(content='088')"],
        (False, 0.5, False),
        (None, 0.5, False),
    ),
    ("OpenCUA write", "domain/T1_u2", "opencua", ["pyautogui.write(message='08817')"], (False, 1.0, False), (None, 1.0, True)),
    (
        "select with point and option",
        "domain/T2_u3",
        "ui_tars",
        ["Action: select(point='<point>90 160</point>', content='March')"],
        (True, 1.0, True),
        (True, 1.0, True),
    ),
    # quirk "UI-TARS inputs taken positionally": content first, so the point string becomes the 'content'
    (
        "select with arguments swapped",
        "domain/T2_u3",
        "ui_tars",
        ["Action: select(content='March', point='<point>90 160</point>')"],
        (False, 2 * (1 / 5) * (1 / 2) / (1 / 5 + 1 / 2), False),
        (True, 1.0, True),
    ),
    # quirk "frame mismatch": the target is on block 1; the reference compares against full-page boxes
    (
        "scroll then click on block 1",
        "task/T3_u4",
        "ui_tars",
        [SCROLL_DOWN, ui_tars_click(65, 135)],
        (False, 1.0, False),
        (True, 1.0, True),
    ),
    (
        "OpenCUA scroll then click",
        "task/T3_u4",
        "opencua",
        ["pyautogui.scroll(-2)", "pyautogui.click(x=65, y=135)"],
        (False, 1.0, False),
        (True, 1.0, True),
    ),
    ("still scrolling after 5 generations", "task/T3_u4", "ui_tars", [SCROLL_DOWN] * 5, (False, 0.0, False), (False, 0.0, False)),
    ("OpenCUA press", "domain/T1_u1", "opencua", ["pyautogui.press('enter')"], (False, 0.0, False), (False, 0.0, False)),
    (
        "OpenCUA terminate",
        "domain/T1_u1",
        "opencua",
        ["computer.terminate(status='success')"],
        (False, 0.0, False),
        (False, 0.0, False),
    ),
    (
        "unsupported UI-TARS action",
        "domain/T1_u1",
        "ui_tars",
        ["Action: hover(point='<point>50 40</point>')"],
        (False, 0.0, False),
        (False, 0.0, False),
    ),
]


@pytest.mark.parametrize(
    ("case", "sample_id", "adapter", "turns", "reference", "corrected"), ROW_CASES, ids=[c[0] for c in ROW_CASES]
)
def test_row_scores(root, case, sample_id, adapter, turns, reference, corrected):
    bench, data = load(root)
    for mode, (element, f1, step) in (("reference", reference), ("corrected", corrected)):
        score = bench.score(turns, data.sample(sample_id), adapter, mode)
        assert score.details["element_correct"] == element, mode
        assert score.details["operation_f1"] == pytest.approx(f1), mode
        assert score.details["step_correct"] is step and score.value == float(step), mode


def test_single_string_is_one_generation(root):
    bench, data = load(root)
    score = bench.score(ui_tars_click(50, 40), data.sample("domain/T1_u1"), "ui_tars", "reference")
    assert score.details["final_block"] == 0 and len(score.details["generations"]) == 1
    with pytest.raises(ValueError, match="no generation"):
        bench.score([], data.sample("domain/T1_u1"), "ui_tars")


def test_coordinates_use_the_block_frame(tmp_path):
    """Quirk "frame mismatch" on parsing: the reference converts with block 0's size even on a smaller last block."""
    blocks = (
        ImageRef.inspect(png(tmp_path / "0.png", SQUARE)),
        ImageRef.inspect(png(tmp_path / "1.png", SQUARE)),
        ImageRef.inspect(png(tmp_path / "2.png", SHORT)),
    )
    truth = Mind2WebTruth("CLICK", "", ((100.0, 450.0, 80.0, 70.0),), {"2": ((100.0, 50.0, 80.0, 70.0),)}, 1)
    sample = Mind2WebSample(
        "s", "mind2web", truth, {"split": "domain"}, blocks=blocks, task="t", previous_actions=(), predecessor=None
    )
    bench = Mind2Web(data_dir=tmp_path, images_dir=tmp_path)
    turns = [SCROLL_DOWN, SCROLL_DOWN, ui_tars_click(168, 126)]  # model pixels on block 2 resized to 336x252
    reference = bench.score(turns, sample, "ui_tars", "reference")
    corrected = bench.score(turns, sample, "ui_tars", "corrected")
    assert reference.details["final_block"] == corrected.details["final_block"] == 2
    assert reference.prediction["click_point"] == pytest.approx([168 / 280, 126 / 280])
    assert corrected.prediction["click_point"] == pytest.approx([0.5, 0.5])
    assert (reference.details["element_correct"], corrected.details["element_correct"]) == (False, True)


# --- summaries ----------------------------------------------------------------------------------------------------

OUTPUTS = {
    "domain/T1_u1": [ui_tars_click(50, 40)],  # element 1, f1 1, step 1
    "domain/T1_u2": ["Action: type(content='08817')"],  # reference 0/1/0, corrected -/1/1
    "domain/T2_u3": ["Action: select(point='<point>90 160</point>', content='March')"],  # 1/1/1
    "task/T3_u4": [SCROLL_DOWN, ui_tars_click(65, 135)],  # reference 0/1/0, corrected 1/1/1
    "website/T4_u6": [ui_tars_click(10, 10)],  # 0/1/0
}
REFERENCE = [  # quirk "cumulative splits": task includes domain, website includes all; total_tasks counts them again
    {
        "task": "domain",
        "element_accuracy": 4 / 9,
        "operation_f1": 5 / 9,
        "step_accuracy": 4 / 9,
        "error_ratio": {"0": 1 / 3, "1": 1 / 3, "2": 1 / 3},
        "total_tasks": 3,
    },
    {
        "task": "task",
        "element_accuracy": 1 / 3,
        "operation_f1": 13 / 24,
        "step_accuracy": 1 / 3,
        "error_ratio": {"0": 0.25, "1": 0.25, "2": 0.5},
        "total_tasks": 4,
    },
    {
        "task": "website",
        "element_accuracy": 4 / 15,
        "operation_f1": 19 / 30,
        "step_accuracy": 4 / 15,
        "error_ratio": {"0": 0.2, "1": 0.4, "2": 0.4},
        "total_tasks": 5,
    },
]
CORRECTED = [
    {
        "task": "domain",
        "element_accuracy": 0.5,
        "operation_f1": 5 / 9,
        "step_accuracy": 5 / 9,
        "error_ratio": {"0": 1 / 3, "1": 2 / 3},
        "total_tasks": 3,
    },
    {
        "task": "task",
        "element_accuracy": 0.5,
        "operation_f1": 0.5,
        "step_accuracy": 0.5,
        "error_ratio": {"1": 1.0},
        "total_tasks": 1,
    },
    {
        "task": "website",
        "element_accuracy": 0.0,
        "operation_f1": 1.0,
        "step_accuracy": 0.0,
        "error_ratio": {"1": 1.0},
        "total_tasks": 1,
    },
]


@pytest.mark.parametrize(("mode", "breakdown", "total_tasks"), [("reference", REFERENCE, 12), ("corrected", CORRECTED, 5)])
def test_summary(root, mode, breakdown, total_tasks):
    bench, data = load(root)
    scores = [bench.score(OUTPUTS[s.id], s, "ui_tars", mode, history=OUTPUTS) for s in data]
    summary = bench.summarize(scores, data, mode)
    assert_serialisable(summary, scores)
    assert summary["total_tasks"] == total_tasks and summary["tasks_evaluated"] == "all"
    assert [b["task"] for b in summary["task_breakdown"]] == ["domain", "task", "website"]
    for got, want in zip(summary["task_breakdown"], breakdown, strict=True):
        for key, value in want.items():
            assert got[key] == (pytest.approx(value) if key != "task" else value), (want["task"], key)
    for key in ("element_accuracy", "operation_f1", "step_accuracy"):
        assert summary["overall_metrics"][key] == pytest.approx(sum(b[key] for b in breakdown) / 3), key
    assert summary["bad_records"]["count"] == 3


# --- step order, image layouts, rows without target blocks ---------------------------------------------------------


def out_of_order(tmp_path: Path, layout: str = "nested") -> Path:
    """Task T5's rows stored as steps 2, 0, 1 (as 9 tasks of the real files are), then T6 (no step field)."""
    samples, images = tmp_path / "samples", tmp_path / "release_images"
    box = [[20, 20, 60, 40]]
    rows = [
        row("T5", "s2", 2, "CLICK", "", box, {"0": box}, ["a -> CLICK", "b -> CLICK"], 3),
        row("T5", "s0", 0, "CLICK", "", box, {"0": box}, [], 3),
        row("T5", "s1", 1, "CLICK", "", box, {"0": box}, ["a -> CLICK"], 3),
        row("T6", "n1", 0, "CLICK", "", box, {"0": box}, [], 2, drop=("step",)),
        row("T6", "n0", 0, "CLICK", "", box, {"0": box}, [], 2),
    ]
    write_jsonl(samples / "cross_domain_blocks.jsonl", rows)
    write_jsonl(samples / "cross_task_blocks.jsonl", [])
    write_jsonl(samples / "cross_website_blocks.jsonl", [])
    for folder in ("T5_s0", "T5_s1", "T5_s2", "T6_n0", "T6_n1"):
        base = images / "cross_domain" if layout == "nested" else images
        png(base / folder / "0.png", SQUARE)
    return tmp_path


@pytest.mark.parametrize("layout", ["nested", "flat"])
def test_episodes_follow_step_order_and_both_image_layouts_load(tmp_path, layout):
    root = out_of_order(tmp_path, layout)
    _, data = load(root)
    assert not data.bad_records
    episodes = {ep.id: ep.sample_ids for ep in data.episodes}
    assert episodes["domain/T5"] == ("domain/T5_s0", "domain/T5_s1", "domain/T5_s2")
    assert episodes["domain/T6"] == ("domain/T6_n0", "domain/T6_n1")  # a row without a step comes after the numbered
    # the file order stays what the reference runs in (and what its stale-history quirk reads)
    assert [s.id for s in data][:3] == ["domain/T5_s2", "domain/T5_s0", "domain/T5_s1"]
    assert data.sample("domain/T5_s0").predecessor.id == "domain/T5_s2"
    expected_parent = "cross_domain" if layout == "nested" else "release_images"
    assert data.sample("domain/T5_s0").blocks[0].path.parent.parent.name == expected_parent


def test_nested_layout_wins_and_a_missing_block_names_both_places(tmp_path):
    root = out_of_order(tmp_path)
    png(root / "release_images" / "T5_s0" / "0.png", (140, 140))  # a stray flat copy: the nested one is used
    (root / "release_images" / "cross_domain" / "T5_s1" / "0.png").unlink()
    _, data = load(root)
    assert data.sample("domain/T5_s0").blocks[0].size == SQUARE
    (bad,) = data.bad_records
    assert "cross_domain/T5_s1/0.png" in bad.reason and "nor" in bad.reason and bad.reason.endswith("T5_s1/0.png)")


def tiled(tmp_path: Path, heights: tuple[int, ...], width: int = 280) -> Path:
    samples, images = tmp_path / "samples", tmp_path / "release_images"
    full_page = [[40, 1700, 50, 30]]  # y 1700..1730: block 1 (800..1800) and block 2 (1600..2600) hold it whole
    write_jsonl(samples / "cross_domain_blocks.jsonl", [row("T7", "b1", 0, "CLICK", "", full_page, {}, [], 1)])
    write_jsonl(samples / "cross_task_blocks.jsonl", [])
    write_jsonl(samples / "cross_website_blocks.jsonl", [])
    for k, height in enumerate(heights):
        png(images / "cross_domain" / "T7_b1" / f"{k}.png", (width, height))
    return tmp_path


def test_a_box_without_target_blocks_is_placed_by_the_tiling(tmp_path):
    bench, data = load(tiled(tmp_path, (1000, 1000, 400)))  # a 2000 px page: tiles at 0, 800, 1600
    sample = data.sample("domain/T7_b1")
    assert sample.truth.targets_derived
    assert sample.truth.target_blocks == {"1": ((40.0, 900.0, 50.0, 30.0),), "2": ((40.0, 100.0, 50.0, 30.0),)}
    width, height = resized_size((280, 1000), UI_TARS_PIXEL_LIMITS)  # the frame the model sees block 1 in
    click = ui_tars_click(round(65 * width / 280), round(915 * height / 1000))  # block pixel (65, 915): inside the box
    score = bench.score([SCROLL_DOWN, click], sample, "ui_tars", "corrected")
    assert score.value == 1.0 and score.details["target_blocks_derived"] and score.details["element_reachable"]
    summary = bench.summarize([score], data, "corrected")
    assert summary["target_blocks"] == {"derived": 1, "unreachable": 0}


@pytest.mark.parametrize("heights", [(1000, 700, 400), (1000, 1000, 400, 300)], ids=["short-middle", "two-short-last"])
def test_a_box_without_target_blocks_on_irregular_blocks_stays_unreachable_and_is_said(tmp_path, heights):
    bench, data = load(tiled(tmp_path, heights))
    sample = data.sample("domain/T7_b1")
    assert sample.truth.targets_derived and sample.truth.target_blocks == {}
    score = bench.score([SCROLL_DOWN, ui_tars_click(65, 915)], sample, "ui_tars", "corrected")
    assert score.value == 0.0 and score.details["element_reachable"] is False
    assert bench.summarize([score], data, "corrected")["target_blocks"] == {"derived": 1, "unreachable": 1}
    assert "target_blocks" not in bench.summarize([score], data, "reference")  # the reference's keys only
