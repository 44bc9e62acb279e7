"""AgentNetBench's prompt texts per model adapter (the final user turn) and its history pieces.

These strings are interfaces: the paper's numbers were measured with exactly these bytes (typos, stray quotes and
trailing spaces included), so they are reproduced verbatim
(specs/models.md Appendix P, specs/benchmarks.md §1.3)
and must not be "tidied". Placeholders are filled with ``str.format``; literal braces are doubled.
"""

from __future__ import annotations

from eval.benchmarks.shared_prompts import OPENCUA_L2_BODY, OPENCUA_ROLE, QWEN3_VL_TASK

AGENTNETBENCH_UI_TARS = r"""You are a GUI agent. You are given a task and your action history, with screenshots. You need to perform the next action to complete the task.

## Output Format
You should first think about the reasoning process in the mind and then provide the user with the answer. 
The reasoning process is enclosed within <think> </think> tags
After the <think> tags, you should place final answer, which concludes your summarized thought and your action.

For example,
```
<think>detailed reasoning content here</think>
Thought: a small plan and finally summarize your next action (with its target element) in one sentence
Action: ...
```

## Action Space

click(point='<point>x1 y1</point>')
left_double(point='<point>x1 y1</point>')
right_single(point='<point>x1 y1</point>')
drag(start_point='<point>x1 y1</point>', end_point='<point>x2 y2</point>')
hotkey(key='ctrl c') # Split keys with a space and use lowercase. Also, do not use more than 3 keys in one hotkey action.
type(content='xxx') # Use escape characters \', \", and \n in content part to ensure we can parse the content in normal python string format. If you want to submit your input, use \n at the end of content. 
scroll(point='<point>x1 y1</point>', direction='down or up or right or left') # Show more information on the `direction` side.
wait() #Sleep for 5s and take a screenshot to check for any changes.
finished(content='successful|failure') # Use escape characters \', \", and \n in content part to ensure we can parse the content in normal python string format.

## Output Example
Thought: Let's click ...
Action: click(point='<point>100 200</point>')

## Note
- Use English in `Thought` part.
- Write a small plan and finally summarize your next action (with its target element) in one sentence in `Thought` part.
- If you have executed several same actions (like repeatedly clicking the same point) but the screen keeps no change, please try to execute a modified action when necessary.
- finished content should be either`successful` or `failure`.

## User Instruction
{instruction}

Please generate the next move according to the screenshot and task instruction.
"""  # noqa: E501, W291

AGENTNETBENCH_OPENCUA = (
    OPENCUA_ROLE
    + "\n\n"
    + OPENCUA_L2_BODY
    + "\n\n# Task Instruction:\n{instruction}\n\n"
    + "Please generate the next move according to the screenshot and task instruction.\n"
)

AGENTNETBENCH_STEP_HEADER = "# Step {step_num}:\n"
"""Header of every history assistant turn; ``step_num`` is the list index + 1."""

AGENTNETBENCH_OUTPUT_RECORD = "Step {step_num}:\n{output}"
"""How the driver stores the model's own output for later history (so the header appears twice)."""

AGENTNETBENCH_GT_HISTORY = "## Observation:\n{observation}\n\n## Thought:\n{thought}\n\n## Action:\n{action}\n"
"""Fallback history from the ground-truth inner monologue, used only for steps that have no model output."""

TEMPLATES: dict[str, str] = {"ui_tars": AGENTNETBENCH_UI_TARS, "opencua": AGENTNETBENCH_OPENCUA, "qwen3_vl": QWEN3_VL_TASK}
"""Adapter name -> the final-turn template (placeholder ``instruction``)."""


def agentnetbench_prompt(adapter: str, instruction: str) -> str:
    """The final-turn prompt text of an AgentNetBench step."""
    return TEMPLATES[adapter].format(instruction=instruction)
