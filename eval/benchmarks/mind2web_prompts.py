"""Multimodal-Mind2Web's prompt texts per model adapter (one per generation).

These strings are interfaces: the paper's numbers were measured with exactly these bytes (typos, stray quotes and
trailing spaces included), so they are reproduced verbatim
(specs/benchmarks.md §5.3) and must not be "tidied". Placeholders are filled with ``str.format``; literal braces are doubled.
"""

from __future__ import annotations

from eval.benchmarks.shared_prompts import OPENCUA_L2_BODY

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
    + OPENCUA_L2_BODY
    + "\n\n## Rule\n- The `write` action will click + write in a textbox or search box. DO NOT `click` ON search box; "
    "otherwise, you will be terminated.\n\n\n## Previous Actions\n{previous_actions}\n\n## User Instruction\n{instruction}\n"
)

TEMPLATES: dict[str, str] = {"ui_tars": MIND2WEB_UI_TARS, "opencua": MIND2WEB_OPENCUA}
"""Adapter name -> the user-turn template (placeholders ``instruction``, ``previous_actions``)."""


def mind2web_prompt(adapter: str, instruction: str, previous_actions: str) -> str:
    """The user prompt text of one Multimodal-Mind2Web generation."""
    return TEMPLATES[adapter].format(instruction=instruction, previous_actions=previous_actions)
