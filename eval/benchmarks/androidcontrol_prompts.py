"""AndroidControl's prompt texts per model adapter and instruction level (``high``: the goal; ``low``: the step).

These strings are interfaces: the paper's numbers were measured with exactly these bytes (typos, stray quotes and
trailing spaces included), so they are reproduced verbatim
(specs/benchmarks.md §2.3) and must not be "tidied". Placeholders are filled with ``str.format``; literal braces are doubled.
"""

from __future__ import annotations

from eval.benchmarks.shared_prompts import OPENCUA_L2_BODY, OPENCUA_ROLE

_ANDROIDCONTROL_UI_TARS_HEAD = r"""You are a GUI agent. You are given a task and your action history, with screenshots. You need to perform the next action to complete the task. 
## Output Format
```
Thought: ...
Action: ...
```
## Action Space

click(point='<point>x1 y1</point>')
long_press(point='<point>x1 y1</point>')
type(content='') #If you want to submit your input, use "\n" at the end of `content`.
scroll(point='<point>x1 y1</point>', direction='down or up or right or left')
press_back()
wait() # Wait for the screen to finish loading.
finished(content='successful|infeasible') # Use `infeasible` if you think the task is not feasible (including cases like you don't have enough information or cannot perform some necessary actions); otherwise, use `successful`.


## Note
- Use English in `Thought` part.
- Write a small plan and finally summarize your next action (with its target element) in one sentence in `Thought` part.
- Always use `click` if you want to open an app.
"""  # noqa: E501, W291

ANDROIDCONTROL_UI_TARS_HIGH = (
    _ANDROIDCONTROL_UI_TARS_HEAD
    + "- content in `finished` action should only be `successful` or `infeasible`.\n\n"
    + "## Previous Actions\n{previous_actions}\n\n## User Instruction\n{goal}\n\n"
)

ANDROIDCONTROL_UI_TARS_LOW = (
    _ANDROIDCONTROL_UI_TARS_HEAD
    + "- You must follow User Instruction below.\n\n"
    + "## User Goal:\n{goal}\n\n## Previous Actions\n{previous_actions}\n\n## User Instruction\n{task}\n"
)

# The stray "'" after the function list is in the reference's template.
ANDROIDCONTROL_OPENCUA_HIGH = (
    "\n" + OPENCUA_ROLE + "\n\n" + OPENCUA_L2_BODY
    + "'\n\n## Previous Actions\n{previous_actions}\n\n## User Instruction\n{goal}\n"
)

ANDROIDCONTROL_OPENCUA_LOW = (
    "\n" + OPENCUA_ROLE + "\n\n" + OPENCUA_L2_BODY
    + "'\n\n\n## Note\n- You must follow User Instruction below.\n\n"
    + "## User Goal\n{goal}\n\n## Previous Actions\n{previous_actions}\n\n## User Instruction\n{task}\n"
)

TEMPLATES: dict[str, dict[str, str]] = {
    "ui_tars": {"high": ANDROIDCONTROL_UI_TARS_HIGH, "low": ANDROIDCONTROL_UI_TARS_LOW},
    "opencua": {"high": ANDROIDCONTROL_OPENCUA_HIGH, "low": ANDROIDCONTROL_OPENCUA_LOW},
}
"""Adapter name -> instruction level -> the user-turn template (placeholders ``goal``, ``task``, ``previous_actions``)."""


def androidcontrol_prompt(adapter: str, level: str, goal: str, step_instruction: str, previous_actions: str) -> str:
    """The user prompt text of an AndroidControl step at instruction level ``high`` or ``low``."""
    return TEMPLATES[adapter][level].format(goal=goal, task=step_instruction, previous_actions=previous_actions)
