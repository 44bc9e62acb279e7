"""Prompt pieces several benchmarks share: the UI-TARS system turn, OpenCUA's role and L2 body, Qwen3-VL's turns.

These strings are interfaces: the paper's numbers were measured with exactly these bytes (typos, stray quotes and
trailing spaces included), so they are reproduced verbatim
(specs/models.md Appendix P, specs/benchmarks.md §1.3, §2.3, §3.3, §5.3)
and must not be "tidied". Placeholders are filled with ``str.format``; literal braces are doubled.
"""

from __future__ import annotations

from guikv.models.qwen3_vl_tools import render_system_prompt

UI_TARS_SYSTEM = "You are a helpful assistant. "
"""System turn of the UI-TARS AndroidControl and Mind2Web drivers (note the trailing space)."""

OPENCUA_ROLE = (
    "You are a GUI agent. You are given a task and a screenshot of the screen. "
    "You need to perform a series of pyautogui actions to complete the task."
)

OPENCUA_L2_BODY = """For each step, provide your response in this format:

Thought:
  - Step by Step Progress Assessment:
    - Analyze completed task parts and their contribution to the overall goal
    - Reflect on potential errors, unexpected results, or obstacles
    - If previous action was incorrect, predict a logical recovery step
  - Next Action Analysis:
    - List possible next actions based on current state
    - Evaluate options considering current state and previous actions
    - Propose most logical next action
    - Anticipate consequences of the proposed action
  - For Text Input Actions:
    - Note current cursor position
    - Consolidate repetitive actions (specify count for multiple keypresses)
    - Describe expected final text outcome
    - Use first-person perspective in reasoning

Action:
  Provide clear, concise, and actionable instructions:
  - If the action involves interacting with a specific target:
    - Describe target explicitly without using coordinates
    - Specify element names when possible (use original language if non-English)
    - Describe features (shape, color, position) if name unavailable
    - For window control buttons, identify correctly (minimize "—", maximize "□", close "X")
  - if the action involves keyboard actions like 'press', 'write', 'hotkey':
    - Consolidate repetitive keypresses with count
    - Specify expected text outcome for typing actions

Finally, output the action as PyAutoGUI code or the following functions:
- {{"name": "computer.triple_click", "description": "Triple click on the screen", "parameters": {{"type": "object", "properties": {{"x": {{"type": "number", "description": "The x coordinate of the triple click"}}, "y": {{"type": "number", "description": "The y coordinate of the triple click"}}}}, "required": ["x", "y"]}}}}
- {{"name": "computer.terminate", "description": "Terminate the current task and report its completion status", "parameters": {{"type": "object", "properties": {{"status": {{"type": "string", "enum": ["success", "failure"], "description": "The status of the task"}}}}, "required": ["status"]}}}}"""  # noqa: E501

QWEN3_VL_SYSTEM = render_system_prompt("computer_use")
"""Qwen3-VL's system turn: "You are a helpful assistant." + the ``computer_use`` tool on a 1000x1000 grid, built as
Qwen's cookbook builds it (``QwenLM/Qwen3-VL`` ``cookbooks/computer_use.ipynb``: ``ComputerUse(cfg={"display_width_px":
1000, "display_height_px": 1000})`` through Qwen-Agent's ``NousFnCallPrompt``; text in ``guikv.models.qwen3_vl_tools``).
The GUI-KV reference has no Qwen3-VL driver, so every Qwen3-VL prompt is the cookbook's in both prompt modes."""

QWEN3_VL_TASK = "{instruction}"
"""The cookbook's user turn is ``[screenshot, the user query verbatim]`` (computer_use notebook)."""
