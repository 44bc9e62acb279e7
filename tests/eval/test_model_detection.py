"""Eval's prompt/parse format and pixel limits come from the model registry (issue 10): config.json -> spec ->
``default_adapter`` and ``pixels``; an unknown model is a one-line error listing the families (exit 2) before any
model loads; ``--adapter`` (alias ``--family``) overrides; ``--min/--max-pixels`` override the spec's limits."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from agent.cli import app
from agent.models import ADAPTERS
from eval.runner import EvalConfig
from eval.scoring import ADAPTER_NAMES
from guikv.models import MODEL_SPECS, OPENCUA_PIXEL_LIMITS, QWEN3_VL_PIXEL_LIMITS, UI_TARS_PIXEL_LIMITS, PixelLimits
from tests.eval.test_runner import screenspot_v2_data

runner = CliRunner()


def folder(tmp_path, config: dict):
    model = tmp_path / "model"
    model.mkdir(exist_ok=True)
    (model / "config.json").write_text(json.dumps(config))
    return model


def test_eval_adapter_names_are_the_agents_and_the_registrys():
    assert set(ADAPTER_NAMES) == set(ADAPTERS)
    assert {spec.default_adapter for spec in MODEL_SPECS.values()} - {None} <= set(ADAPTER_NAMES)


@pytest.mark.parametrize(
    ("config", "family", "adapter", "limits"),
    [
        ({"model_type": "qwen2_5_vl"}, "qwen2_5_vl", "ui_tars", UI_TARS_PIXEL_LIMITS),
        ({"model_type": "opencua"}, "opencua", "opencua", OPENCUA_PIXEL_LIMITS),
        ({"model_type": "qwen3_vl"}, "qwen3_vl", "qwen3_vl", QWEN3_VL_PIXEL_LIMITS),
        ({"architectures": ["Qwen3VLMoeForConditionalGeneration"]}, "qwen3_vl_moe", "qwen3_vl", QWEN3_VL_PIXEL_LIMITS),
        ({"model_type": "qwen2_vl"}, "qwen2_vl", "ui_tars", MODEL_SPECS["qwen2_vl"].pixels.limits),
    ],
)
def test_the_folder_config_names_adapter_and_pixels(tmp_path, config, family, adapter, limits):
    cfg = EvalConfig("screenspot_v2", model=str(folder(tmp_path, config)))
    assert (cfg.model_family, cfg.adapter, cfg.pixel_limits) == (family, adapter, limits)
    assert cfg.to_dict()["adapter"] == adapter and cfg.to_dict()["model_family"] == family


def test_run_pixels_override_the_spec_but_keep_its_factor(tmp_path):
    cfg = EvalConfig("screenspot_v2", model=str(folder(tmp_path, {"model_type": "qwen3_vl"})), min_pixels=1024, max_pixels=4096)
    assert cfg.pixel_limits == PixelLimits(1024, 4096, 32)


def test_explicit_adapter_overrides_and_serves_an_unlisted_hub_id(tmp_path):
    cfg = EvalConfig("screenspot_v2", model=str(folder(tmp_path, {"model_type": "qwen2_5_vl"})), adapter="opencua")
    assert (cfg.adapter, cfg.model_family, cfg.pixel_limits) == ("opencua", "qwen2_5_vl", UI_TARS_PIXEL_LIMITS)
    hub = EvalConfig("screenspot_v2", model="someone/private-gui-model", adapter="qwen3_vl")
    assert (hub.model_family, hub.pixel_limits) == ("qwen3_vl", QWEN3_VL_PIXEL_LIMITS)


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"model_type": "llava", "architectures": ["LlavaForConditionalGeneration"]}, "model_type 'llava'"),
        ({"model_type": "qwen3_5"}, "Gated DeltaNet"),
        ({"model_type": "glm4v"}, "the glm4v family has no prompt adapter; pass --adapter"),
        ({"model_type": "qwen2"}, "the qwen2 family has no prompt adapter"),
    ],
)
def test_an_unknown_model_is_one_line_exit_2_before_it_loads(tmp_path, config, message):
    data, _ = screenspot_v2_data(tmp_path)
    model = folder(tmp_path, config)  # config.json only: loading it would fail, so exit 2 proves nothing loaded
    result = runner.invoke(app, ["eval", "screenspot_v2", "--data", str(data), "--model", str(model),
                                 "--results", str(tmp_path / "results")], terminal_width=4000)
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:") and message in lines[0], result.output
    if "llava" in message:
        assert "known families: qwen2_5_vl" in lines[0] and "opencua" in lines[0] and "qwen3_vl" in lines[0]
    assert not (tmp_path / "results").exists()


def test_a_hub_id_without_config_or_known_name_is_an_error(tmp_path):
    data, _ = screenspot_v2_data(tmp_path)
    result = runner.invoke(app, ["eval", "screenspot_v2", "--data", str(data), "--model", "someone/mystery",
                                 "--results", str(tmp_path / "results")], terminal_width=4000)
    assert result.exit_code == 2 and "no known family in the name; known families:" in result.output


@pytest.mark.parametrize("flag", ["--adapter", "--family"])
def test_the_adapter_flag_and_its_alias(tmp_path, flag):
    data, _ = screenspot_v2_data(tmp_path)
    model = folder(tmp_path, {"model_type": "glm4v"})
    result = runner.invoke(app, ["eval", "screenspot_v2", "--data", str(data), "--model", str(model), flag, "qwen2",
                                 "--results", str(tmp_path / "results")], terminal_width=4000)
    assert result.exit_code == 2 and "qwen2" in result.output and "ui_tars" in result.output  # typer names the choices
