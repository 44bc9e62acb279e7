"""Actions drawn on screenshots (markers, arrows, labels coloured by outcome) and their short labels."""

from __future__ import annotations

import pytest
from PIL import Image

from agent.annotate import annotate, describe
from environments.actions import CallUser, Click, Drag, Finished, Hotkey, Scroll, Type, Wait

WHITE = (255, 255, 255)


def blank(size=(200, 150)) -> Image.Image:
    return Image.new("RGB", size, WHITE)


def is_marked(image: Image.Image, xy) -> bool:
    return image.getpixel(xy) != WHITE


def test_annotate_marks_points_drags_scrolls_and_labels():
    image = blank()
    click = annotate(image, [Click((100, 75))])
    assert click.size == image.size and image.getpixel((100, 75)) == WHITE  # the input is left as it was
    red = click.getpixel((100, 75))
    assert red[0] > 150 and red[1] < 120  # the centre dot, in the 'executed' colour
    assert not is_marked(click, (5, 140))

    drag = annotate(image, [Drag((20, 20), (180, 130))])
    assert is_marked(drag, (100, 75))  # on the arrow's shaft

    scroll = annotate(image, [Scroll("down", (40, 40))])
    assert is_marked(scroll, (40, 70)) and not is_marked(scroll, (40, 10))  # the arrow points down

    typed = annotate(image, [Type("hello", submit=True)])
    assert any(is_marked(typed, (x, y)) for x in range(4, 60) for y in range(4, 16))  # label in the top-left corner


def test_annotate_colours_follow_the_outcome():
    executed = annotate(blank(), [Click((100, 75))], ["executed"]).getpixel((100, 75))
    dry_run = annotate(blank(), [Click((100, 75))], ["dry_run"]).getpixel((100, 75))
    assert executed != dry_run and dry_run[2] > dry_run[0]  # dry runs are blue


@pytest.mark.parametrize(
    ("action", "label"),
    [
        (Click((1, 2)), "click"),
        (Type("hi", submit=True), 'type "hi" [enter]'),
        (Hotkey(("ctrl", "c")), "hotkey ctrl+c"),
        (Scroll("up", None, 3), "scroll up x3"),
        (Wait(2.0), "wait 2s"),
        (Finished("successful"), "finished: successful"),
        (CallUser("captcha"), "call_user: captcha"),
    ],
)
def test_describe(action, label):
    assert describe(action) == label
