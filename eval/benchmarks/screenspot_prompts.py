"""ScreenSpot v2 / Pro grounding prompt texts per model adapter (both benchmarks send the same ones).

These strings are interfaces: the paper's numbers were measured with exactly these bytes (typos, stray quotes and
trailing spaces included), so they are reproduced verbatim
(specs/benchmarks.md §3.3) and must not be "tidied". Placeholders are filled with ``str.format``; literal braces are doubled.
"""

from __future__ import annotations

from eval.benchmarks.shared_prompts import OPENCUA_ROLE, QWEN3_VL_TASK

# The doubled quote after </point> is in the official UI-TARS grounding template.
SCREENSPOT_UI_TARS = (
    "You are a GUI agent. You are given a task and your action history, with screenshots. "
    "You need to perform the next action to complete the task. \n\n## Output Format\n\nAction: ...\n\n\n"
    "## Action Space\nclick(point='<point>x1 y1</point>'')\n\n## User Instruction\n{instruction}"
)

SCREENSPOT_OPENCUA = OPENCUA_ROLE + "\n{instruction}"

TEMPLATES: dict[str, str] = {"ui_tars": SCREENSPOT_UI_TARS, "opencua": SCREENSPOT_OPENCUA, "qwen3_vl": QWEN3_VL_TASK}
"""Adapter name -> the user-turn template (placeholder ``instruction``)."""


def screenspot_prompt(adapter: str, instruction: str) -> str:
    """The user prompt text of a ScreenSpot v2 / Pro grounding item."""
    return TEMPLATES[adapter].format(instruction=instruction)
