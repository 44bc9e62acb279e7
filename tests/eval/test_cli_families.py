"""``guikv-agent eval`` end to end (the real CLI through typer's runner) with a tiny OpenCUA folder (the real
checkpoint layout, ``guikv.testing.save_tiny_opencua``) and a tiny Qwen3-VL folder (``save_pretrained``), on one
multi-step benchmark (AgentNetBench) and one grounding benchmark (ScreenSpot v2), data in the real layouts.

Random tiny models answer nonsense, so accuracy is not checked: the adapter is detected from the folder's config, every
sample has exactly one row holding its raw output and both modes' scores, those scores are what the benchmark's parser
for that adapter makes of the recorded output (the scoring path), the processor ran at the family's factor, and the
run's summary and reference files are written."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from agent.cli import app
from eval.benchmarks import make_benchmark
from eval.results import RESULTS_FILE, SUMMARY_FILE, score_record
from guikv.testing.opencua import save_tiny_opencua
from guikv.testing.qwen3_vl import save_tiny_qwen3_vl
from tests.eval.test_runner import agentnetbench_data, screenspot_v2_data

runner = CliRunner()
FAMILIES = {  # folder builder, the adapter eval must pick from its config, the family's resize factor
    "opencua": (save_tiny_opencua, "opencua", 28),
    "qwen3_vl": (save_tiny_qwen3_vl, "qwen3_vl", 32),
}
BENCHMARKS = {"agentnetbench": (agentnetbench_data, 5), "screenspot_v2": (screenspot_v2_data, 4)}  # runnable samples


@pytest.fixture(scope="module", params=list(FAMILIES))
def family(request, tmp_path_factory):
    build, adapter, factor = FAMILIES[request.param]
    return build(tmp_path_factory.mktemp(request.param)), adapter, factor, request.param


@pytest.mark.parametrize("benchmark", list(BENCHMARKS))
def test_eval_end_to_end(family, benchmark, tmp_path):
    folder, adapter, factor, family_name = family
    build, samples = BENCHMARKS[benchmark]
    data, images = build(tmp_path)
    results = tmp_path / "results"
    pixels = ["--min-pixels", str(factor * factor * 4), "--max-pixels", str(factor * factor * 16)]
    memory = ["--memory", "persistent"] if benchmark == "agentnetbench" else []
    result = runner.invoke(app, [
        "eval", benchmark, "--model", str(folder), "--data", str(data), "--images", str(images), "--methods", "gui_kv",
        "--budgets", "0.5", "--max-new-tokens", "6", "--results", str(results), "--threads", "1", *pixels, *memory,
    ], env={"COLUMNS": "300"})
    assert result.exit_code == 0, result.output

    rows = [json.loads(line) for line in (results / RESULTS_FILE).read_text(encoding="utf-8").splitlines()]
    assert len(rows) == len({row["sample_id"] for row in rows}) == samples
    bench = make_benchmark(benchmark, data, images, env={})
    loaded = bench.load()
    for row in rows:
        assert row["adapter"] == adapter and row["model"] == str(folder.resolve()) and row["error"] is None, row["error"]
        assert row["generations"] >= 1 and len(row["outputs"]) == row["generations"] and row["prefill_tokens"][0] > 0
        assert row["pixels"] == [factor * factor * 4, factor * factor * 16]
        sample = loaded.sample(row["sample_id"])
        rescored = bench.__class__(data_dir=data, images_dir=images, pixels=bench.pixels.__class__(*row["pixels"], factor))
        for mode in ("reference", "corrected"):
            stored = row["scores"][mode]
            assert 0.0 <= stored["value"] <= 1.0 and stored["details"]["raw_response"] == row["outputs"][-1]
            assert stored == json.loads(json.dumps(score_record(rescored.score(row["outputs"], sample, adapter, mode))))

    [summary_file] = list(results.rglob(SUMMARY_FILE))
    summary = json.loads(summary_file.read_text(encoding="utf-8"))
    assert summary["samples"] == samples and summary["run"]["adapter"] == adapter
    assert summary["config"]["model_family"] == family_name and summary["config"]["adapter"] == adapter
    assert set(summary["headline"]) == {"reference", "corrected"}
    assert all(0.0 <= value <= 1.0 for value in summary["headline"].values())
    for name in bench.result_files:
        assert len(list(results.rglob(name))) == 2  # reference/ and corrected/
