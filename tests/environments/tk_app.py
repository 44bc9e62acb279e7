"""A small Tk window for the desktop tests: it writes every event it gets as a JSON line to the file in argv[1].

Layout in screen pixels (the window sits at the top-left corner of the screen, no window manager under Xvfb):
a green canvas at x 100..300, y 100..200 and an entry at x 100..300, y 250..280.
"""

import json
import sys
import tkinter as tk

TITLE = "guikv tk test"
CANVAS = (100, 100, 200, 100)  # left, top, width, height
ENTRY = (100, 250, 200, 30)

log = open(sys.argv[1], "a", buffering=1, encoding="utf-8")  # noqa: SIM115 - lives as long as the app


def record(kind: str, **fields: object) -> None:
    log.write(json.dumps({"type": kind, **fields}) + "\n")


def pointer(kind: str):
    return lambda event: record(kind, x=event.x_root, y=event.y_root)


root = tk.Tk()
root.title(TITLE)
root.geometry("400x300+0+0")
canvas = tk.Canvas(root, width=CANVAS[2], height=CANVAS[3], bg="#00ff00", highlightthickness=0, borderwidth=0)
canvas.place(x=CANVAS[0], y=CANVAS[1])
for sequence, kind in (
    ("<ButtonPress-1>", "press"),
    ("<ButtonRelease-1>", "release"),
    ("<Double-Button-1>", "double"),
    ("<ButtonPress-3>", "right"),
    ("<ButtonPress-2>", "middle"),
    ("<ButtonPress-4>", "wheel_up"),
    ("<ButtonPress-5>", "wheel_down"),
):
    canvas.bind(sequence, pointer(kind))
entry = tk.Entry(root)
entry.place(x=ENTRY[0], y=ENTRY[1], width=ENTRY[2], height=ENTRY[3])
entry.bind("<KeyRelease>", lambda event: record("entry", text=entry.get()))
entry.bind("<Return>", lambda event: record("submit", text=entry.get()))
root.bind_all("<Control-k>", lambda event: record("hotkey", keys="ctrl+k"))
root.wait_visibility()
root.update()
record("ready")
root.mainloop()
