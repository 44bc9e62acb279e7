"""The mouse pointer on $DISPLAY, moved and read the way a person's mouse would be (XTEST), not through any
environment: for desktop tests and for ``tests/agent/scripted_cli.py`` (a subprocess)."""

from __future__ import annotations


def move_pointer(x: int, y: int) -> None:
    """Move the mouse pointer as a person would: an XTEST motion event on $DISPLAY, not through any environment."""
    from Xlib import X
    from Xlib.display import Display
    from Xlib.ext import xtest

    display = Display()
    try:
        xtest.fake_input(display, X.MotionNotify, x=x, y=y)
        display.sync()
    finally:
        display.close()


def pointer_position() -> tuple[int, int]:
    """Where the pointer is on $DISPLAY, in screen pixels."""
    from Xlib.display import Display

    display = Display()
    try:
        reply = display.screen().root.query_pointer()
        return reply.root_x, reply.root_y
    finally:
        display.close()
