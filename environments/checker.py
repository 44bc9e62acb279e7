"""``check_env``: does an environment keep the ``Env`` contract? Run over every registered environment in the tests.

In the spirit of Gymnasium's ``check_env``: a failed check raises ``AssertionError`` saying what was wrong.
"""

from __future__ import annotations

from PIL import Image

from environments.actions import Click, Finished, Wait
from environments.base import Env, Observation


def _check_observation(observation: object, after: str) -> Observation:
    if not isinstance(observation, Observation):
        raise AssertionError(f"{after} must return an Observation, got {type(observation).__name__}")
    screenshot, size = observation.screenshot, observation.size
    if not isinstance(screenshot, Image.Image) or screenshot.mode != "RGB":
        raise AssertionError(f"{after}: the screenshot must be an RGB PIL image, got {screenshot!r}")
    if screenshot.size != size or not all(isinstance(v, int) and v > 0 for v in size):
        raise AssertionError(f"{after}: size {size} must be the screenshot's (width, height) {screenshot.size}, > 0")
    if not isinstance(observation.info, dict):
        raise AssertionError(f"{after}: info must be a dict, got {type(observation.info).__name__}")
    return observation


def check_env(env: Env, task: str = "check the environment") -> None:
    """Reset, step (wait, an off-screen click, a terminal action) and close ``env`` twice, checking each result.

    Closes ``env`` whatever happens. Each step must return an Observation whose screenshot keeps the reset size; a click
    outside the screenshot must be reported in ``info["error"]``, not raised; ``close`` must be idempotent.
    """
    try:
        first = _check_observation(env.reset(task), "reset()")
        if first.info.get("error") is not None:
            raise AssertionError(f"reset() reported an error: {first.info['error']}")
        width, height = first.size
        for action in (Wait(0.0), Click((width, height)), Finished("done")):
            observation = _check_observation(env.step(action), f"step({action!r})")
            if observation.size != first.size:
                raise AssertionError(f"step({action!r}) changed the screenshot size {first.size} -> {observation.size}")
            outside = isinstance(action, Click)
            if outside != isinstance(observation.info.get("error"), str):
                expected = "report the off-screen point in info['error']" if outside else "not report an error"
                raise AssertionError(f"step({action!r}) must {expected}; info: {observation.info}")
    finally:
        env.close()
    env.close()
