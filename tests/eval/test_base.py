"""Registry, path resolution (arguments / environment variables), images, messages."""

from __future__ import annotations

import pytest
from PIL import Image

from eval.benchmarks import BENCHMARKS, BenchmarkDataError, ImageRef, Message, benchmark_class, make_benchmark, to_chat
from eval.benchmarks.records import RecordProblem
from tests.eval.helpers import garbage, png, truncated

VARIABLES = {
    "agentnetbench": ("AGENTNETBENCH_DATA", "AGENTNETBENCH_IMGS"),
    "androidcontrol": ("ANDROIDCONTROL_TEST", "ANDROIDCONTROL_IMGS"),
    "screenspot_v2": ("SCREENSPOT_TEST", "SCREENSPOT_IMGS"),
    "screenspot_pro": ("SCREENSPOTPRO_TEST", "SCREENSPOTPRO_IMGS"),
    "mind2web": ("MM_MIND2WEB_TEST", "MM_MIND2WEB_IMGS"),
}


def test_registry_has_the_five_benchmarks():
    assert set(BENCHMARKS) == set(VARIABLES)
    for name, cls in BENCHMARKS.items():
        assert cls.name == name
        assert (cls.data_env, cls.images_env) == VARIABLES[name]
        assert cls.result_files and cls.max_new_tokens > 0


def test_unknown_benchmark_lists_the_known_ones():
    with pytest.raises(KeyError, match="agentnetbench, androidcontrol"):
        benchmark_class("webarena")


@pytest.mark.parametrize("name", sorted(VARIABLES))
def test_locate_from_environment_variables(name, tmp_path):
    data, images = tmp_path / "data", tmp_path / "imgs"
    data.mkdir()
    images.mkdir()
    data_env, images_env = VARIABLES[name]
    bench = make_benchmark(name, env={data_env: str(data), images_env: str(images)})
    assert (bench.data_dir, bench.images_dir) == (data, images)


@pytest.mark.parametrize("name", sorted(VARIABLES))
def test_explicit_paths_win_over_environment(name, tmp_path):
    data, images, other = tmp_path / "data", tmp_path / "imgs", tmp_path / "other"
    for folder in (data, images, other):
        folder.mkdir()
    data_env, images_env = VARIABLES[name]
    bench = make_benchmark(name, data, images, env={data_env: str(other), images_env: str(other)})
    assert (bench.data_dir, bench.images_dir) == (data, images)


@pytest.mark.parametrize("name", sorted(VARIABLES))
def test_missing_variable_is_a_clear_error(name):
    with pytest.raises(BenchmarkDataError, match=f"no data directory given; set {VARIABLES[name][0]}"):
        make_benchmark(name, env={})


@pytest.mark.parametrize("name", sorted(VARIABLES))
def test_missing_directory_is_a_clear_error(name, tmp_path):
    data_env, images_env = VARIABLES[name]
    env = {data_env: str(tmp_path / "nope"), images_env: str(tmp_path)}
    with pytest.raises(BenchmarkDataError, match=rf"data directory .*nope \(from \${data_env}\) does not exist"):
        make_benchmark(name, env=env)
    (tmp_path / "data").mkdir()
    env = {data_env: str(tmp_path / "data"), images_env: str(tmp_path / "no_images")}
    with pytest.raises(BenchmarkDataError, match=rf"images directory .*no_images \(from \${images_env}\)"):
        make_benchmark(name, env=env)


def test_load_checks_directories_of_a_directly_built_benchmark(tmp_path):
    bench = BENCHMARKS["screenspot_v2"](data_dir=tmp_path / "gone", images_dir=tmp_path)
    with pytest.raises(BenchmarkDataError, match=r"gone does not exist.*SCREENSPOT_TEST"):
        bench.load()


@pytest.mark.parametrize(
    ("name", "layout"),
    [
        ("agentnetbench", "data/images"),
        ("screenspot_v2", "data/screenspotv2_image"),
        ("androidcontrol", "images"),
        ("screenspot_pro", "images"),
    ],
)
def test_images_default_to_the_standard_layout(name, layout, tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / layout).mkdir(parents=True)
    bench = make_benchmark(name, tmp_path / "data", env={})
    assert bench.images_dir == tmp_path / layout


def test_mind2web_images_have_no_default(tmp_path):
    with pytest.raises(BenchmarkDataError, match="no images directory given; set MM_MIND2WEB_IMGS"):
        make_benchmark("mind2web", tmp_path, env={})


def test_unknown_option_is_rejected(tmp_path):
    with pytest.raises(TypeError, match="no option image_slot"):
        make_benchmark("agentnetbench", tmp_path, tmp_path, env={}, image_slot=3)
    with pytest.raises(ValueError, match="image_slots"):
        make_benchmark("agentnetbench", tmp_path, tmp_path, env={}, image_slots=0)


def test_image_inspection(tmp_path):
    ref = ImageRef.inspect(png(tmp_path / "ok.png", (700, 280)))
    assert ref.size == (700, 280)
    opened = ref.open()
    assert isinstance(opened, Image.Image) and opened.mode == "RGB" and opened.size == (700, 280)
    for path, reason in (
        (tmp_path / "missing.png", "image not found"),
        (garbage(tmp_path / "garbage.png"), "cannot be decoded"),
        (truncated(tmp_path / "truncated.png"), "cannot be decoded"),
    ):
        with pytest.raises(RecordProblem, match=reason):
            ImageRef.inspect(path)


def test_messages_in_qwen_content_format(tmp_path):
    ref = ImageRef.inspect(png(tmp_path / "a.png", (280, 280)))
    chat = to_chat(
        [
            Message("system", ("You are a helpful assistant. ",)),
            Message("user", (ref,)),
            Message("assistant", ("# Step 1:\nStep 1:\nclick",)),
            Message("user", (ref, "the task")),
        ]
    )
    assert chat[0] == {"role": "system", "content": "You are a helpful assistant. "}
    assert chat[1]["role"] == "user" and chat[1]["content"][0]["type"] == "image"
    assert isinstance(chat[1]["content"][0]["image"], Image.Image)
    assert chat[2] == {"role": "assistant", "content": "# Step 1:\nStep 1:\nclick"}
    assert chat[3]["content"][1] == {"type": "text", "text": "the task"}
