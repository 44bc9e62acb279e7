"""Every benchmark's prompt module (``eval/benchmarks/<name>_prompts.py``): keyed by the adapters the benchmark serves,
byte-pinned (the paper's numbers were measured with these exact bytes), and refusing an adapter it has no prompt for."""

from __future__ import annotations

import hashlib
from types import ModuleType

import pytest

from eval.benchmarks import (
    BENCHMARKS,
    agentnetbench_prompts,
    androidcontrol_prompts,
    mind2web_prompts,
    screenspot_prompts,
    shared_prompts,
)

PROMPT_MODULES: dict[str, ModuleType] = {
    "agentnetbench": agentnetbench_prompts,
    "androidcontrol": androidcontrol_prompts,
    "screenspot_v2": screenspot_prompts,
    "screenspot_pro": screenspot_prompts,
    "mind2web": mind2web_prompts,
}

PINNED = {  # sha256 (first 16 hex digits) of the bytes eval/prompts.py held before the prompts moved (issue 10)
    (shared_prompts, "UI_TARS_SYSTEM"): "415de78488c7d08b",
    (shared_prompts, "OPENCUA_ROLE"): "20c5b335faadbf9f",
    (shared_prompts, "OPENCUA_L2_BODY"): "a3db613dcfda6231",
    (shared_prompts, "QWEN3_VL_SYSTEM"): "6084d16a025c374a",
    (shared_prompts, "QWEN3_VL_TASK"): "f644e9ec474b6ec2",
    (agentnetbench_prompts, "AGENTNETBENCH_UI_TARS"): "aa7608794301706c",
    (agentnetbench_prompts, "AGENTNETBENCH_OPENCUA"): "54438a3c1722c158",
    (agentnetbench_prompts, "AGENTNETBENCH_STEP_HEADER"): "3fca199beb098a70",
    (agentnetbench_prompts, "AGENTNETBENCH_OUTPUT_RECORD"): "1d6ea38ca2ab606e",
    (agentnetbench_prompts, "AGENTNETBENCH_GT_HISTORY"): "a87117699c07ac75",
    (androidcontrol_prompts, "ANDROIDCONTROL_UI_TARS_HIGH"): "e148578a6a09c65f",
    (androidcontrol_prompts, "ANDROIDCONTROL_UI_TARS_LOW"): "a8e0111843a1f3b9",
    (androidcontrol_prompts, "ANDROIDCONTROL_OPENCUA_HIGH"): "62dd8a924503d31b",
    (androidcontrol_prompts, "ANDROIDCONTROL_OPENCUA_LOW"): "180bf4ef694e4a76",
    (screenspot_prompts, "SCREENSPOT_UI_TARS"): "e0fda4eb0b91efda",
    (screenspot_prompts, "SCREENSPOT_OPENCUA"): "624ca2bc745e026b",
    (mind2web_prompts, "MIND2WEB_UI_TARS"): "0cc18d51ae638c81",
    (mind2web_prompts, "MIND2WEB_OPENCUA"): "bce0fe5bb93496aa",
}


def test_every_benchmark_has_a_prompt_module():
    assert set(PROMPT_MODULES) == set(BENCHMARKS)


@pytest.mark.parametrize("name", sorted(PROMPT_MODULES))
def test_a_benchmark_serves_exactly_the_adapters_its_prompt_module_keys(name):
    assert BENCHMARKS[name].adapters == tuple(PROMPT_MODULES[name].TEMPLATES)


@pytest.mark.parametrize(
    ("module", "constant"), sorted(PINNED, key=lambda key: key[1]), ids=lambda value: getattr(value, "__name__", value)
)
def test_prompt_bytes_are_pinned(module, constant):
    text = getattr(module, constant)
    assert hashlib.sha256(text.encode("utf-8")).hexdigest()[:16] == PINNED[(module, constant)]


@pytest.mark.parametrize("constant", ["UI_TARS_SYSTEM", "OPENCUA_ROLE", "OPENCUA_L2_BODY", "QWEN3_VL_TASK"])
def test_shared_pieces_are_one_object_everywhere(constant):
    """A benchmark's prompt module reuses the shared piece, never a copy of it (one place to read it)."""
    users = [module for module in PROMPT_MODULES.values() if hasattr(module, constant)]
    assert all(getattr(module, constant) is getattr(shared_prompts, constant) for module in users)


@pytest.mark.parametrize(
    ("call", "adapter"),
    [
        (lambda adapter: agentnetbench_prompts.agentnetbench_prompt(adapter, "x"), "glm4v"),
        (lambda adapter: androidcontrol_prompts.androidcontrol_prompt(adapter, "high", "g", "s", "p"), "qwen3_vl"),
        (lambda adapter: screenspot_prompts.screenspot_prompt(adapter, "x"), "ui-tars"),
        (lambda adapter: mind2web_prompts.mind2web_prompt(adapter, "x", "p"), "qwen3_vl"),
    ],
)
def test_an_adapter_without_a_prompt_is_refused(call, adapter):
    with pytest.raises(KeyError, match=adapter):
        call(adapter)


def test_placeholder_values_are_not_formatted_again():
    """Instructions come from data files: braces in them reach the model verbatim (one ``str.format`` pass)."""
    text = screenspot_prompts.screenspot_prompt("opencua", "type {x} and {0}")
    assert text.endswith("\ntype {x} and {0}")
    assert androidcontrol_prompts.androidcontrol_prompt("ui_tars", "low", "{goal}", "{task}", "{}").count("{goal}") == 1
