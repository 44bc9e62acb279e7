"""AgentNetBench: loading, step-t sample construction, prediction mapping and soft scoring in both modes."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from eval.benchmarks import AgentNetBench, BenchmarkDataError, ImageRef, make_benchmark
from eval.benchmarks.agentnetbench import AgentNetBenchSample
from eval.benchmarks.agentnetbench_scoring import AgentNetTruth
from tests.eval.helpers import WIDE, assert_serialisable, garbage, png, ui_tars_click, write_json

SOFT_002 = math.exp(-120 * (0.02 - 0.01 * math.sqrt(2)))  # 0.4951
SOFT_005 = math.exp(-120 * (0.05 - 0.01 * math.sqrt(2)))  # 0.01353
TINY = 1e-20


# --- builders in the AgentNetBench schema ---------------------------------------------------------------------------


def point_action(kind: str, x: float, y: float, box: list[float] | None = None) -> dict:
    boxes = [{"category_id": 1, "rel_bbox": box, "abs_bbox": [v * 700 for v in box], "area": 1.0}] if box else []
    return {"type": kind, "params": {"position": {"x": x, "y": y}}, "metadata": {"bboxes": boxes}}


def write_action(text: str, key: str = "text") -> dict:
    return {"type": "write", "params": {key: text}, "metadata": {}}


def key_action(kind: str, *keys: str) -> dict:
    return {"type": kind, "params": {"keys": list(keys)}, "metadata": {}}


def scroll_action(amount: int) -> dict:
    return {"type": "scroll", "params": {"position": {"x": 0.5, "y": 0.5}, "amount": amount}, "metadata": {"bboxes": []}}


def terminate_action(status: str) -> dict:
    return {"type": "terminate", "params": {"status": status}, "metadata": {}}


BOX = [0.4, 0.4, 0.2, 0.2]  # x 280-420 px, y 112-168 px on a 700x280 screenshot
CLICK = point_action("click", 0.5, 0.5, BOX)


def step(task: str, index: int, truth: list[dict] | None, *, milestone: bool = False, alternatives=None) -> dict:
    record = {
        "step_num": index + 2,  # file step numbers are not list indices
        "image": f"{task}_{index + 2}.png",
        "action": "pyautogui.click(x=0.5, y=0.5)",
        "milestone": milestone,
        "inner_monologue": {"observation": f"obs{index}", "thought": f"th{index}", "low_level_instruction": f"li{index}"},
        "alternative_options": alternatives or [],
    }
    if truth is not None:
        record["ground_truth_actions"] = truth
    return record


def trajectory(task: str, steps: list[dict]) -> dict:
    return {
        "task_id": task,
        "user_task_description": f"user words for {task}",
        "high_level_task_description": f"Do {task}",
        "meta_info": {"os": "Windows"},
        "steps": steps,
    }


@pytest.fixture
def dataset_root(tmp_path: Path) -> Path:
    """s_a: 7 clean steps. s_b: step 1 image missing, step 2 no GT, step 3 image undecodable. Plus junk files."""
    root = tmp_path / "test_data"
    images = root / "images"
    write_json(root / "s_a.json", trajectory("s_a", [step("s_a", i, [CLICK], milestone=i % 2 == 0) for i in range(7)]))
    for i in range(7):
        png(images / f"s_a_{i + 2}.png", WIDE, shade=i)
    write_json(
        root / "s_b.json",
        trajectory(
            "s_b",
            [
                step("s_b", 0, [CLICK]),
                step("s_b", 1, [CLICK]),
                step("s_b", 2, None),
                step("s_b", 3, [CLICK]),
                step("s_b", 4, [CLICK]),
            ],
        ),
    )
    for i in (0, 2, 4):
        png(images / f"s_b_{i + 2}.png", WIDE, shade=10 + i)
    garbage(images / "s_b_5.png")
    write_json(root / "mapping_ids.json", {"not": "a trajectory"})
    (root / "broken.json").write_text("{not json", encoding="utf-8")
    write_json(root / "no_task.json", {"steps": []})
    return root


def load(root: Path, **options) -> tuple[AgentNetBench, object]:
    bench = make_benchmark("agentnetbench", root, env={}, **options)
    return bench, bench.load()


# --- loading --------------------------------------------------------------------------------------------------------


def test_load_from_environment_and_from_root(dataset_root):
    env = {"AGENTNETBENCH_DATA": str(dataset_root), "AGENTNETBENCH_IMGS": str(dataset_root / "images")}
    from_env = make_benchmark("agentnetbench", env=env).load()
    _, from_root = load(dataset_root)
    ids = [s.id for s in from_env]
    assert ids == [s.id for s in from_root]
    assert ids == [f"s_a/{i}" for i in range(7)] + ["s_b/0", "s_b/4"]
    first = from_env.sample("s_a/0")
    assert first.instruction == "Do s_a" and first.image.size == WIDE
    assert first.meta["file_step_num"] == 2 and first.meta["step_num"] == 1 and first.meta["milestone"] is True


def test_bad_records_are_counted_with_reasons(dataset_root):
    _, data = load(dataset_root)
    reasons = {(Path(b.path).name, b.index): b.reason for b in data.bad_records}
    assert set(reasons) == {("s_b.json", 1), ("s_b.json", 2), ("s_b.json", 3), ("broken.json", None), ("no_task.json", None)}
    assert "image not found" in reasons[("s_b.json", 1)]
    assert "missing field 'ground_truth_actions'" in reasons[("s_b.json", 2)]
    assert "cannot be decoded" in reasons[("s_b.json", 3)]
    assert "not valid JSON" in reasons[("broken.json", None)]
    assert "missing field 'task_id'" in reasons[("no_task.json", None)]
    assert data.bad_summary()["count"] == 5
    episodes = {ep.id: ep for ep in data.episodes}
    assert episodes["s_b"].length == 5 and episodes["s_b"].sample_ids == ("s_b/0", "s_b/4")
    assert episodes["s_a"].length == 7


def test_empty_data_directory_loads_nothing(tmp_path):
    (tmp_path / "images").mkdir()
    _, data = load(tmp_path)
    assert len(data) == 0 and not data.bad_records


# --- sample construction for step t ---------------------------------------------------------------------------------


def shape(messages) -> list[tuple[str, tuple]]:
    """(role, content) with screenshots as file names, for comparing layouts."""
    return [(m.role, tuple(p.path.name if isinstance(p, ImageRef) else p for p in m.content)) for m in messages]


def outputs_for(task: str, steps: range, skip: tuple[int, ...] = ()) -> dict[str, str]:
    return {f"{task}/{i}": f"out{i}" for i in steps if i not in skip}


def test_step_t_ui_tars_layout(dataset_root):
    _, data = load(dataset_root)
    sample = data.sample("s_a/6")
    history = outputs_for("s_a", range(6), skip=(2,))  # step 2 has no output: GT monologue fallback
    got = shape(sample.messages("ui_tars", mode="reference", history=history))
    prompt = got[-1][1][1]
    expected = [
        ("assistant", ("# Step 1:\nStep 1:\nout0",)),
        ("assistant", ("# Step 2:\nStep 2:\nout1",)),
        ("user", ("s_a_4.png",)),
        ("assistant", ("# Step 3:\n## Observation:\nobs2\n\n## Thought:\nth2\n\n## Action:\nli2\n",)),
        ("user", ("s_a_5.png",)),
        ("assistant", ("# Step 4:\nStep 4:\nout3",)),
        ("user", ("s_a_6.png",)),
        ("assistant", ("# Step 5:\nStep 5:\nout4",)),
        ("user", ("s_a_7.png",)),
        ("assistant", ("# Step 6:\nStep 6:\nout5",)),
        ("user", ("s_a_8.png", prompt)),
    ]
    assert got == expected
    assert prompt.startswith("You are a GUI agent. You are given a task and your action history")
    assert "## User Instruction\nDo s_a\n\nPlease generate the next move" in prompt
    # UI-TARS has no OpenCUA quirk: both modes build the same prompt
    assert shape(sample.messages("ui_tars", mode="corrected", history=history)) == expected


@pytest.mark.parametrize(
    ("mode", "images"),
    [
        # quirk "OpenCUA history images" (§1.3): no image inside the 4-step window, t-4 stale copies of step t-2
        ("reference", ["s_a_6.png", "s_a_6.png", "s_a_8.png"]),
        ("corrected", ["s_a_4.png", "s_a_5.png", "s_a_6.png", "s_a_7.png", "s_a_8.png"]),
    ],
)
def test_step_t_opencua_history_images(dataset_root, mode, images):
    _, data = load(dataset_root)
    messages = data.sample("s_a/6").messages("opencua", mode=mode, history=outputs_for("s_a", range(6)))
    assert [i.path.name for m in messages for i in m.images] == images
    assert [m.role for m in messages].count("assistant") == 6
    assert "# Task Instruction:\nDo s_a\n" in messages[-1].text


def test_opencua_reference_early_steps_see_only_the_current_screenshot(dataset_root):
    _, data = load(dataset_root)
    messages = data.sample("s_a/4").messages("opencua", mode="reference", history=outputs_for("s_a", range(4)))
    assert [i.path.name for m in messages for i in m.images] == ["s_a_6.png"]


@pytest.mark.parametrize(
    ("options", "adapter", "mode", "images", "texts"),
    [
        ({"image_slots": 2}, "ui_tars", "reference", ["s_a_7.png", "s_a_8.png"], 6),
        ({"image_slots": 2}, "opencua", "reference", ["s_a_6.png"] * 5 + ["s_a_8.png"], 6),
        ({"image_slots": 1}, "ui_tars", "corrected", ["s_a_8.png"], 6),
        ({"history_length": 3}, "ui_tars", "reference", ["s_a_4.png", "s_a_5.png", "s_a_6.png", "s_a_7.png", "s_a_8.png"], 3),
    ],
)
def test_image_slots_and_history_length(dataset_root, options, adapter, mode, images, texts):
    _, data = load(dataset_root, **options)
    messages = data.sample("s_a/6").messages(adapter, mode=mode, history=outputs_for("s_a", range(6)))
    assert [i.path.name for m in messages for i in m.images] == images
    assistant = [m.text for m in messages if m.role == "assistant"]
    assert len(assistant) == texts
    assert assistant[-1] == "# Step 6:\nStep 6:\nout5"


def test_missing_and_bad_steps_in_the_history(dataset_root):
    _, data = load(dataset_root)
    messages = data.sample("s_b/4").messages("ui_tars", history={"s_b/0": ["first try", "final out0"]})
    # step 1 (missing image) and 3 (undecodable) carry no screenshot; step 2 (bad GT) keeps its valid screenshot
    assert [i.path.name for m in messages for i in m.images] == ["s_b_2.png", "s_b_4.png", "s_b_6.png"]
    texts = [m.text for m in messages if m.role == "assistant"]
    assert texts[0] == "# Step 1:\nStep 1:\nfinal out0"
    assert [t.splitlines()[0] for t in texts[1:]] == ["# Step 2:", "# Step 3:", "# Step 4:"]
    assert all("## Observation:" in t for t in texts[1:])


def test_persistent_replay_structure(dataset_root):
    _, data = load(dataset_root)
    episode = next(ep for ep in data.episodes if ep.id == "s_a")
    assert data.preamble(episode, "ui_tars") == []
    sample = data.sample("s_a/3")
    turn = sample.turn("ui_tars", history=outputs_for("s_a", range(3)))
    assert turn.role == "user" and [i.path.name for i in turn.images] == ["s_a_5.png"]
    assert turn == sample.messages("ui_tars")[-1]  # the final user turn does not depend on the history
    chat = sample.chat("ui_tars", history=outputs_for("s_a", range(3)))
    assert chat[-1]["content"][0]["image"].size == WIDE and chat[-1]["content"][1]["type"] == "text"


# --- scoring -----------------------------------------------------------------------------------------------------


@pytest.fixture
def scorer(tmp_path: Path):
    image = ImageRef.inspect(png(tmp_path / "shot.png", WIDE))
    bench = AgentNetBench(data_dir=tmp_path, images_dir=tmp_path)

    def score(adapter, output, truth, alternatives=(), mode="corrected"):
        sample = AgentNetBenchSample(
            "t/0",
            "agentnetbench",
            AgentNetTruth(tuple(truth), tuple(tuple(a) for a in alternatives), False),
            {"episode_id": "t", "step_index": 0, "gt_type": truth[0]["type"].lower() if truth else None},
            image=image,
            instruction="x",
            step_index=0,
            previous=(),
            image_slots=5,
            history_length=10,
        )
        return bench.score(output, sample, adapter, mode)

    return score


NOBOX = point_action("click", 0.5, 0.5)
CASES = [
    # (case, adapter, output, ground truth actions, reference score, corrected score)
    ("click inside the box", "ui_tars", ui_tars_click(300, 120), [CLICK], 1.0, 1.0),
    ("click on the box edge (inclusive)", "ui_tars", ui_tars_click(280, 112), [CLICK], 1.0, 1.0),
    ("click within tau of the position", "ui_tars", ui_tars_click(357, 140), [NOBOX], 1.0, 1.0),
    ("click at d=0.02: soft score", "ui_tars", ui_tars_click(364, 140), [NOBOX], SOFT_002, SOFT_002),
    ("click at d=0.05: soft score", "ui_tars", ui_tars_click(385, 140), [NOBOX], SOFT_005, SOFT_005),
    ("long_press counts as click", "ui_tars", ui_tars_click(350, 140, "long_press"), [CLICK], 1.0, 1.0),
    (
        "left_double vs doubleClick",
        "ui_tars",
        ui_tars_click(350, 140, "left_double"),
        [point_action("doubleClick", 0.5, 0.5)],
        1.0,
        1.0,
    ),
    (
        "right_single vs rightClick",
        "ui_tars",
        ui_tars_click(350, 140, "right_single"),
        [point_action("rightClick", 0.5, 0.5)],
        1.0,
        1.0,
    ),
    ("type mismatch scores 0", "ui_tars", ui_tars_click(350, 140), [point_action("doubleClick", 0.5, 0.5)], 0.0, 0.0),
    (
        "OpenCUA computer.triple_click",
        "opencua",
        "computer.triple_click(x=350, y=140)",
        [point_action("tripleClick", 0.5, 0.5)],
        1.0,
        1.0,
    ),
    (
        "OpenCUA pyautogui.tripleClick is not read",
        "opencua",
        "pyautogui.tripleClick(x=350, y=140)",
        [point_action("tripleClick", 0.5, 0.5)],
        0.0,
        0.0,
    ),
    ("OpenCUA moveTo", "opencua", "pyautogui.moveTo(x=350, y=140)", [point_action("moveTo", 0.5, 0.5)], 1.0, 1.0),
    (
        "UI-TARS drag scores its end point",
        "ui_tars",
        "Action: drag(start_point='<point>70 28</point>', end_point='<point>350 140</point>')",
        [point_action("dragTo", 0.5, 0.5)],
        1.0,
        1.0,
    ),
    # quirk "multi-action GT": moveTo+dragTo / moveTo+scroll steps
    (
        "moveTo+dragTo GT vs UI-TARS drag",
        "ui_tars",
        "Action: drag(start_point='<point>70 28</point>', end_point='<point>350 140</point>')",
        [point_action("moveTo", 0.1, 0.1), point_action("dragTo", 0.5, 0.5)],
        0.0,
        1.0,
    ),
    (
        "moveTo+dragTo GT, drag start off by 0.02",
        "ui_tars",
        "Action: drag(start_point='<point>84 28</point>', end_point='<point>350 140</point>')",
        [point_action("moveTo", 0.1, 0.1), point_action("dragTo", 0.5, 0.5)],
        0.0,
        (SOFT_002 + 1) / 2,
    ),
    (
        "moveTo+scroll GT vs UI-TARS scroll",
        "ui_tars",
        "Action: scroll(point='<point>350 140</point>', direction='down')",
        [point_action("moveTo", 0.5, 0.5), scroll_action(-5)],
        0.0,
        1.0,
    ),
    (
        "moveTo+scroll GT vs OpenCUA moveTo + scroll",
        "opencua",
        "pyautogui.moveTo(x=350, y=140)\npyautogui.scroll(-5)",
        [point_action("moveTo", 0.5, 0.5), scroll_action(-5)],
        1.0,
        1.0,
    ),
    (
        "moveTo+scroll GT vs OpenCUA scroll alone",
        "opencua",
        "pyautogui.scroll(-5)",
        [point_action("moveTo", 0.5, 0.5), scroll_action(-5)],
        0.0,
        0.5,
    ),
    (
        "scroll GT: direction and amount ignored",
        "ui_tars",
        "Action: scroll(point='<point>350 140</point>', direction='up')",
        [scroll_action(-5)],
        1.0,
        1.0,
    ),
    ("write ignores case", "ui_tars", "Action: type(content='Dark Mode')", [write_action("dark mode")], 1.0, 1.0),
    ("write with submit vs GT with newline", "ui_tars", "Action: type(content='dark\\n')", [write_action("dark\n")], 1.0, 1.0),
    # quirk "newline penalty never fires" (§1.5)
    ("write without submit vs GT with newline", "ui_tars", "Action: type(content='dark')", [write_action("dark\n")], 1.0, 0.9),
    ("write similarity >= 0.8", "ui_tars", "Action: type(content='dark mod')", [write_action("dark mode")], 1.0, 1.0),
    (
        "write similarity < 0.8",
        "ui_tars",
        "Action: type(content='dork')",
        [write_action("dark mode")],
        (1 - 6 / 9) / 0.8,
        (1 - 6 / 9) / 0.8,
    ),
    ("write GT under 'content'", "ui_tars", "Action: type(content='hello')", [write_action("hello", key="content")], 1.0, 1.0),
    (
        "OpenCUA write with an escaped newline",
        "opencua",
        "pyautogui.write(message='dark\\n')",
        [write_action("dark\n")],
        (1 - 2 / 6) / 0.8,
        1.0,
    ),
    (
        "OpenCUA write then press Enter vs GT with newline",
        "opencua",
        "pyautogui.write(message='dark')\npyautogui.press('Enter')",
        [write_action("dark\n")],
        1.0,
        1.0,
    ),
    (
        "OpenCUA write without Enter vs GT with newline",
        "opencua",
        "pyautogui.write(message='dark')",
        [write_action("dark\n")],
        1.0,
        0.9,
    ),
    (
        "OpenCUA write with an apostrophe",
        "opencua",
        'pyautogui.write(message="I\'m here")',
        [write_action("I'm here")],
        (1 - 7 / 8) / 0.8,
        1.0,
    ),
    # quirk "ctrl -> control" (§1.7)
    ("UI-TARS ctrl hotkey", "ui_tars", "Action: hotkey(key='ctrl c')", [key_action("hotkey", "ctrl", "C")], 0.0, 1.0),
    ("hotkey key order ignored", "ui_tars", "Action: hotkey(key='f alt')", [key_action("hotkey", "alt", "f")], 1.0, 1.0),
    ("OpenCUA cmd becomes ctrl", "opencua", "pyautogui.hotkey('cmd', 'c')", [key_action("hotkey", "ctrl", "c")], 1.0, 1.0),
    # quirk "press GT unreachable for UI-TARS" (§1.7)
    ("press GT vs UI-TARS hotkey enter", "ui_tars", "Action: hotkey(key='enter')", [key_action("press", "enter")], 0.0, 1.0),
    ("OpenCUA press", "opencua", "pyautogui.press('enter')", [key_action("press", "Enter")], 1.0, 1.0),
    (
        "only the first predicted action is scored",
        "ui_tars",
        "Action: type(content='abc\\n')",
        [key_action("press", "enter")],
        0.0,
        0.0,
    ),
    ("press_back maps to escape", "ui_tars", "Action: press_back()", [key_action("press", "escape")], 1.0, 1.0),
    ("finished successful", "ui_tars", "Action: finished(content='successful')", [terminate_action("success")], 1.0, 1.0),
    ("finished with the wrong status", "ui_tars", "Action: finished(content='failure')", [terminate_action("success")], 0.0, 0.0),
    ("OpenCUA terminate", "opencua", "computer.terminate(status='failure')", [terminate_action("failure")], 1.0, 1.0),
    ("wait maps to nothing", "ui_tars", "Action: wait()", [CLICK], 0.0, 0.0),
    ("call_user maps to nothing", "ui_tars", "Action: call_user()", [terminate_action("failure")], 0.0, 0.0),
    ("no Action in the output", "ui_tars", "Thought: hmm", [CLICK], 0.0, 0.0),
    ("empty GT scores 0", "ui_tars", ui_tars_click(350, 140), [], 0.0, 0.0),
]


@pytest.mark.parametrize(("case", "adapter", "output", "truth", "reference", "corrected"), CASES, ids=[c[0] for c in CASES])
def test_step_scores(scorer, case, adapter, output, truth, reference, corrected):
    assert scorer(adapter, output, truth, mode="reference").value == pytest.approx(reference)
    assert scorer(adapter, output, truth, mode="corrected").value == pytest.approx(corrected)


def test_unparseable_output_is_a_recorded_model_error(scorer):
    score = scorer("ui_tars", "Action: click(point=)", [CLICK], mode="reference")
    assert score.value == 0 and score.error and score.details["predicted_actions"] == []


def test_predicted_actions_are_recorded(scorer):
    score = scorer("ui_tars", "Action: type(content='dark\\n')", [write_action("dark\n")], mode="reference")
    assert score.details["predicted_actions"] == [["write", "dark"], ["press", ["enter"]]]
    score = scorer("ui_tars", "Action: scroll(point='<point>350 140</point>', direction='down')", [scroll_action(-5)])
    assert score.details["predicted_actions"] == [["moveto", [0.5, 0.5]], ["scroll", -5]]


ALTERNATIVE_CASES = [
    # (case, output, GT, alternatives, reference (score, used), corrected (score, used))
    (
        "another-type alternative via the redirect (not counted in reference)",
        "Action: hotkey(key='alt f')",
        [point_action("click", 0.1, 0.1)],
        [[key_action("hotkey", "alt", "f")]],
        (1.0, False),
        (1.0, True),
    ),
    # quirk: soft scores are never 0, so a same-type alternative is never consulted by the reference
    (
        "same-type alternative",
        ui_tars_click(560, 140),
        [point_action("click", 0.2, 0.5)],
        [[point_action("click", 0.8, 0.5)]],
        (0.0, False),
        (1.0, True),
    ),
    (
        "redirect takes the first same-type alternative",
        ui_tars_click(560, 140, "left_double"),
        [CLICK],
        [[point_action("doubleClick", 0.1, 0.1)], [point_action("doubleClick", 0.8, 0.5)]],
        (0.0, False),
        (1.0, True),
    ),
    (
        "post-hoc max over alternatives",
        "Action: hotkey(key='alt f')",
        [CLICK],
        [[key_action("hotkey", "alt", "g")], [key_action("hotkey", "alt", "f")]],
        (1.0, True),
        (1.0, True),
    ),
]


@pytest.mark.parametrize(
    ("case", "output", "truth", "alternatives", "reference", "corrected"),
    ALTERNATIVE_CASES,
    ids=[c[0] for c in ALTERNATIVE_CASES],
)
def test_alternative_options(scorer, case, output, truth, alternatives, reference, corrected):
    for mode, (value, used) in (("reference", reference), ("corrected", corrected)):
        score = scorer("ui_tars", output, truth, alternatives, mode=mode)
        assert score.value == pytest.approx(value, abs=TINY), mode
        assert score.details["used_alternative"] is used, mode


# --- aggregates ---------------------------------------------------------------------------------------------------


@pytest.fixture
def summary_root(tmp_path: Path) -> Path:
    root = tmp_path / "test_data"
    write_json(
        root / "s_x.json",
        trajectory(
            "s_x",
            [
                step("s_x", 0, [CLICK], milestone=True),
                step("s_x", 1, [key_action("hotkey", "ctrl", "c")], milestone=True),
                step("s_x", 2, [terminate_action("success")], milestone=True),
            ],
        ),
    )
    write_json(
        root / "s_y.json",
        trajectory(
            "s_y",
            [
                step("s_y", 0, [write_action("xyz")], alternatives=[[write_action("abc")]]),
                step("s_y", 1, [CLICK]),  # its screenshot is missing: skipped, but counted in the step totals
                step("s_y", 2, [key_action("press", "enter")]),
            ],
        ),
    )
    for name in ("s_x_2", "s_x_3", "s_x_4", "s_y_2", "s_y_4"):
        png(root / "images" / f"{name}.png", WIDE)
    return root


OUTPUTS = {
    "s_x/0": ui_tars_click(350, 140),  # 1
    "s_x/1": "Action: hotkey(key='ctrl c')",  # reference 0 (ctrl -> control), corrected 1
    "s_x/2": "Thought: I am done",  # no action: 0, and not "scored" in the reference
    "s_y/0": "Action: type(content='abc')",  # GT 'xyz' gives exactly 0; the alternative gives 1
    "s_y/2": "Action: hotkey(key='enter')",  # reference 0 (press unreachable), corrected 1
}


@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        (
            "reference",
            {
                "overall_score": 2 / 5,
                "average_trajectory_score": (1 / 3 + 1 / 3) / 2,
                "total_steps": 6,
                "total_trajectories": 2,
                "alternative_matches": 1,
                "alternative_match_percentage": 100 / 6,
                "milestone_score": 0.5,
                "milestone_steps": 2,
                "action_type_scores": {"click": 1.0, "hotkey": 0.0, "terminate": 0.0, "write": 1.0, "press": 0.0},
                "action_type_steps": {"click": 1, "hotkey": 1, "terminate": 0, "write": 1, "press": 1},
            },
        ),
        (
            "corrected",
            {
                "overall_score": 4 / 5,
                "average_trajectory_score": (2 / 3 + 2 / 3) / 2,
                "total_steps": 6,
                "total_trajectories": 2,
                "alternative_matches": 1,
                "alternative_match_percentage": 100 / 6,
                "milestone_score": 2 / 3,
                "milestone_steps": 3,
                "action_type_scores": {"click": 1.0, "hotkey": 1.0, "terminate": 0.0, "write": 1.0, "press": 1.0},
                "action_type_steps": {"click": 1, "hotkey": 1, "terminate": 1, "write": 1, "press": 1},
            },
        ),
    ],
)
def test_summary(summary_root, mode, expected):
    bench, data = load(summary_root)
    scores = [bench.score(OUTPUTS[s.id], s, "ui_tars", mode) for s in data]
    summary = bench.summarize(scores, data, mode)
    assert_serialisable(summary, scores)
    assert summary["scoring_mode"] == mode and summary["bad_records"]["count"] == 1
    metrics = summary["metrics"]
    for key, value in expected.items():
        if isinstance(value, dict):
            for kind, number in value.items():
                assert metrics[key][kind] == pytest.approx(number), (key, kind)
        else:
            assert metrics[key] == pytest.approx(value), key
    assert set(metrics["action_type_scores"]) == {
        "click",
        "doubleclick",
        "rightclick",
        "tripleclick",
        "moveto",
        "dragto",
        "write",
        "press",
        "hotkey",
        "scroll",
        "terminate",
    }


def test_locate_rejects_files_as_directories(tmp_path):
    (tmp_path / "file.json").write_text("{}")
    with pytest.raises(BenchmarkDataError, match="does not exist or is not a directory"):
        make_benchmark("agentnetbench", tmp_path / "file.json", tmp_path, env={})


def test_episode_steps_follow_the_steps_list_whatever_their_step_num(tmp_path):
    """The list index is the step index (the reference's "# Step k", its image window); step_num only labels a step,
    is not contiguous, and is recorded, never used to reorder."""
    root = tmp_path / "test_data"
    steps = [step("s_c", i, [CLICK]) for i in range(3)]
    for record, number in zip(steps, (7, 3, 5), strict=True):
        record["step_num"] = number
    write_json(root / "s_c.json", trajectory("s_c", steps))
    for i in range(3):
        png(root / "images" / f"s_c_{i + 2}.png", WIDE)
    data = make_benchmark("agentnetbench", root, env={}).load()
    (episode,) = data.episodes
    assert episode.sample_ids == ("s_c/0", "s_c/1", "s_c/2")
    assert [data.sample(i).meta["file_step_num"] for i in episode.sample_ids] == [7, 3, 5]
