"""Shared scoring helpers: modes, boxes, edit distance, soft point score, Mind2Web operation F1."""

from __future__ import annotations

import pytest

from eval.scoring import (
    check_adapter,
    check_mode,
    in_xywh,
    in_xyxy,
    levenshtein,
    mean,
    normalize_box,
    operation_f1,
    soft_point_score,
    text_similarity_score,
)


@pytest.mark.parametrize("mode", ["reference", "corrected"])
def test_check_mode_accepts(mode):
    assert check_mode(mode) == mode


def test_check_mode_and_family_reject_with_the_choices():
    with pytest.raises(ValueError, match="reference, corrected"):
        check_mode("paper")
    with pytest.raises(ValueError, match="ui_tars, opencua"):
        check_adapter("qwen")


@pytest.mark.parametrize(
    ("point", "inside"),
    [((0.4, 0.4), True), ((0.6, 0.6), True), ((0.5, 0.39), False), ((0.61, 0.5), False), ((0.4, 0.6), True)],
)
def test_boxes_are_inclusive(point, inside):
    assert in_xyxy(point, (0.4, 0.4, 0.6, 0.6)) is inside
    assert in_xywh(point, (0.4, 0.4, 0.2, 0.2)) is inside


def test_normalize_box():
    assert normalize_box((70, 28, 140, 56), 700, 280) == (0.1, 0.1, 0.2, 0.2)


@pytest.mark.parametrize(
    ("a", "b", "distance"), [("", "", 0), ("kitten", "sitting", 3), ("dork", "dark mode", 6), ("abc", "", 3)]
)
def test_levenshtein(a, b, distance):
    assert levenshtein(a, b) == distance == levenshtein(b, a)


@pytest.mark.parametrize(
    ("pred", "truth", "score"),
    [
        ("", "", 1.0),
        ("dark mod", "dark mode", 1.0),  # similarity 8/9 >= 0.8
        ("dork", "dark mode", (1 - 6 / 9) / 0.8),  # below the threshold: s / 0.8
        ("abcd", "abce", 0.75 / 0.8),
    ],
)
def test_text_similarity_score(pred, truth, score):
    assert text_similarity_score(pred, truth) == pytest.approx(score)


@pytest.mark.parametrize(
    ("distance", "score"),
    [(0.0, 1.0), (0.014142, 1.0), (0.02, 0.49513), (0.05, 0.013529)],  # spec §1.5: d=0.02 -> 0.50, d=0.05 -> 0.014
)
def test_soft_point_score(distance, score):
    assert soft_point_score(distance) == pytest.approx(score, abs=1e-5)


@pytest.mark.parametrize(
    ("pred", "label", "f1"),
    [
        ("click ", "CLICK ", 1.0),
        ("type 08817", "TYPE 08817", 1.0),
        ("type 08817", "TYPE 08817 nj", 0.8),
        ("", "", 1.0),
        ("", "CLICK ", 0.0),
        ("select march", "SELECT - March", 1.0),  # "-" is a substring of string.punctuation: dropped
        ("select march ()", "SELECT March", 1.0),  # so is "()"
        ("select march )(", "SELECT March", 0.8),  # ")(" is not a substring: kept
        ("click", "TYPE x", 0.0),
    ],
)
def test_operation_f1(pred, label, f1):
    assert operation_f1(pred, label) == pytest.approx(f1)


def test_mean():
    assert mean([]) == 0.0
    assert mean([], empty=-1) == -1
    assert mean([1, 0, 0.5]) == 0.5
