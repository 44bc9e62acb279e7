"""Prompt texts the GUI-KV reference drivers send, per benchmark and model adapter.

These strings are interfaces: the paper's numbers were measured with exactly these bytes (typos, stray quotes and
trailing spaces included), so they are reproduced verbatim (specs/models.md Appendix P, specs/benchmarks.md §1.3, §2.3,
§3.3, §5.3) and must not be "tidied". Placeholders are filled with ``str.format``; literal braces are doubled.
"""

from __future__ import annotations

from guikv.models.qwen3_vl_tools import render_system_prompt

# --- shared pieces ------------------------------------------------------------------------------------------------

UI_TARS_SYSTEM = "You are a helpful assistant. "
"""System turn of the UI-TARS AndroidControl and Mind2Web drivers (note the trailing space)."""

OPENCUA_ROLE = (
    "You are a GUI agent. You are given a task and a screenshot of the screen. "
    "You need to perform a series of pyautogui actions to complete the task."
)

_OPENCUA_L2_BODY = """For each step, provide your response in this format:

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

# --- AgentNetBench (Appendix P) -----------------------------------------------------------------------------------

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
    + _OPENCUA_L2_BODY
    + "\n\n# Task Instruction:\n{instruction}\n\n"
    + "Please generate the next move according to the screenshot and task instruction.\n"
)

AGENTNETBENCH_STEP_HEADER = "# Step {step_num}:\n"
"""Header of every history assistant turn; ``step_num`` is the list index + 1."""

AGENTNETBENCH_OUTPUT_RECORD = "Step {step_num}:\n{output}"
"""How the driver stores the model's own output for later history (so the header appears twice)."""

AGENTNETBENCH_GT_HISTORY = "## Observation:\n{observation}\n\n## Thought:\n{thought}\n\n## Action:\n{action}\n"
"""Fallback history from the ground-truth inner monologue, used only for steps that have no model output."""

# --- AndroidControl -----------------------------------------------------------------------------------------------

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
    "\n" + OPENCUA_ROLE + "\n\n" + _OPENCUA_L2_BODY
    + "'\n\n## Previous Actions\n{previous_actions}\n\n## User Instruction\n{goal}\n"
)

ANDROIDCONTROL_OPENCUA_LOW = (
    "\n" + OPENCUA_ROLE + "\n\n" + _OPENCUA_L2_BODY
    + "'\n\n\n## Note\n- You must follow User Instruction below.\n\n"
    + "## User Goal\n{goal}\n\n## Previous Actions\n{previous_actions}\n\n## User Instruction\n{task}\n"
)

# --- ScreenSpot v2 / Pro ------------------------------------------------------------------------------------------

# The doubled quote after </point> is in the official UI-TARS grounding template.
SCREENSPOT_UI_TARS = (
    "You are a GUI agent. You are given a task and your action history, with screenshots. "
    "You need to perform the next action to complete the task. \n\n## Output Format\n\nAction: ...\n\n\n"
    "## Action Space\nclick(point='<point>x1 y1</point>'')\n\n## User Instruction\n{instruction}"
)

SCREENSPOT_OPENCUA = OPENCUA_ROLE + "\n{instruction}"

# --- Multimodal-Mind2Web ------------------------------------------------------------------------------------------

MIND2WEB_UI_TARS = r"""You are a GUI agent. You are given a task and your action history, with screenshots. You need to perform the next action to complete the task. 


## Output Format
```
Thought: ...
Action: ...
```

## Action Space


- type(content='xxx') # First click on the textbox, and then type the content. 
- scroll(point='<point>x1 y1</point>', direction='down or up') # Show more information on the `direction` side.
- select(point='<point>x1 y1</point>', content='xxx') # Select dropdown menu at point x1 y1 and choose entry xxx.
- click(point='<point>x1 y1</point>').   

## Note
- Use English in `Thought` part.
- Write a small plan and finally summarize your next action (with its target element) in one sentence in `Thought` part. 
- For `type` action, Use escape characters \', \", and \n in content part to ensure we can parse the content in normal python string format. If you want to submit your input, use \n at the end of content. 

## Rule
- The `type` action will click + type in a textbox or search box. DO NOT `click` ON search box; otherwise, you will be terminated.

## Previous Actions
{previous_actions}



## User Instruction
{instruction}


"""  # noqa: E501, W291

MIND2WEB_OPENCUA = (
    "You are a GUI agent. You are given a task and your action history, with screenshots. "
    "You need to perform a series of pyautogui actions to complete the task.\n\n"
    + _OPENCUA_L2_BODY
    + "\n\n## Rule\n- The `write` action will click + write in a textbox or search box. DO NOT `click` ON search box; "
    "otherwise, you will be terminated.\n\n\n## Previous Actions\n{previous_actions}\n\n## User Instruction\n{instruction}\n"
)


def agentnetbench_prompt(adapter: str, instruction: str) -> str:
    """The final-turn prompt text of an AgentNetBench step."""
    template = {"ui_tars": AGENTNETBENCH_UI_TARS, "opencua": AGENTNETBENCH_OPENCUA, "qwen3_vl": QWEN3_VL_TASK}[adapter]
    return template.format(instruction=instruction)


def androidcontrol_prompt(adapter: str, level: str, goal: str, step_instruction: str, previous_actions: str) -> str:
    """The user prompt text of an AndroidControl step at instruction level ``high`` or ``low``."""
    template = {
        ("ui_tars", "high"): ANDROIDCONTROL_UI_TARS_HIGH,
        ("ui_tars", "low"): ANDROIDCONTROL_UI_TARS_LOW,
        ("opencua", "high"): ANDROIDCONTROL_OPENCUA_HIGH,
        ("opencua", "low"): ANDROIDCONTROL_OPENCUA_LOW,
    }[(adapter, level)]
    return template.format(goal=goal, task=step_instruction, previous_actions=previous_actions)


def screenspot_prompt(adapter: str, instruction: str) -> str:
    """The user prompt text of a ScreenSpot v2 / Pro grounding item."""
    template = {"ui_tars": SCREENSPOT_UI_TARS, "opencua": SCREENSPOT_OPENCUA, "qwen3_vl": QWEN3_VL_TASK}[adapter]
    return template.format(instruction=instruction)


def mind2web_prompt(adapter: str, instruction: str, previous_actions: str) -> str:
    """The user prompt text of one Multimodal-Mind2Web generation."""
    template = {"ui_tars": MIND2WEB_UI_TARS, "opencua": MIND2WEB_OPENCUA}[adapter]
    return template.format(instruction=instruction, previous_actions=previous_actions)
