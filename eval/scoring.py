"""Scoring knobs and the small geometric/text helpers every benchmark scorer shares.

Two scoring modes exist (issue 5): ``reference`` reproduces the GUI-KV reference drivers, flagged quirks included, so
numbers can be compared with the paper; ``corrected`` (the default) fixes those quirks. Each benchmark module lists,
next to the code, which quirk every ``reference`` branch reproduces (specs/benchmarks.md §1.7, §2.6, §3.4, §4.5, §5.5).
"""

from __future__ import annotations

import math
import string
from collections.abc import Iterable, Sequence
from typing import Literal, get_args

ScoringMode = Literal["reference", "corrected"]
AdapterName = Literal["ui_tars", "opencua", "qwen3_vl"]
"""The prompt/parse format a run uses, by the agent adapter's name (``agent.models.ADAPTERS``; a model spec's
``default_adapter`` in ``guikv.models``): one name per concept across the packages."""

SCORING_MODES: tuple[str, ...] = get_args(ScoringMode)
ADAPTER_NAMES: tuple[str, ...] = get_args(AdapterName)
DEFAULT_MODE: ScoringMode = "corrected"

Point = tuple[float, float]


def check_mode(mode: str) -> ScoringMode:
    """``mode`` itself, or a ValueError naming the modes that exist."""
    if mode not in SCORING_MODES:
        raise ValueError(f"unknown scoring mode {mode!r}; expected one of {', '.join(SCORING_MODES)}")
    return mode  # type: ignore[return-value]


def check_adapter(adapter: str) -> AdapterName:
    """``adapter`` itself, or a ValueError naming the model adapters the benchmarks know."""
    if adapter not in ADAPTER_NAMES:
        raise ValueError(f"unknown model adapter {adapter!r}; expected one of {', '.join(ADAPTER_NAMES)}")
    return adapter  # type: ignore[return-value]


def in_xyxy(point: Sequence[float], box: Sequence[float]) -> bool:
    """Inclusive point-in-box test for ``[left, top, right, bottom]`` (every reference test is inclusive)."""
    x, y = point[0], point[1]
    return box[0] <= x <= box[2] and box[1] <= y <= box[3]


def in_xywh(point: Sequence[float], box: Sequence[float]) -> bool:
    """Inclusive point-in-box test for ``[left, top, width, height]``."""
    return in_xyxy(point, (box[0], box[1], box[0] + box[2], box[1] + box[3]))


def normalize_box(box: Sequence[float], width: float, height: float) -> tuple[float, float, float, float]:
    """A 4-number box in pixels divided by the image size (x by width, y by height), format unchanged."""
    return (box[0] / width, box[1] / height, box[2] / width, box[3] / height)


def levenshtein(a: str, b: str) -> int:
    """Edit distance (insert/delete/substitute, cost 1), as the ``editdistance`` package computes it."""
    if len(a) < len(b):
        a, b = b, a
    previous = list(range(len(b) + 1))
    for i, char_a in enumerate(a, 1):
        current = [i]
        for j, char_b in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (char_a != char_b)))
        previous = current
    return previous[-1]


def text_similarity_score(pred: str, truth: str, threshold: float = 0.8) -> float:
    """AgentNetBench ``write`` rule for unequal texts: s = 1 - edit/max_len; 1.0 when s >= threshold, else s/threshold."""
    longest = max(len(pred), len(truth))
    if longest == 0:
        return 1.0
    similarity = 1.0 - levenshtein(pred, truth) / longest
    return 1.0 if similarity >= threshold else similarity / threshold


def soft_point_score(distance: float, tau: float = 0.01 * math.sqrt(2), alpha: float = 120.0) -> float:
    """AgentNetBench positional rule outside every box: 1.0 within ``tau``, else ``exp(-alpha * (d - tau))``."""
    return 1.0 if distance <= tau else math.exp(-alpha * (distance - tau))


def operation_f1(pred: str, label: str) -> float:
    """Mind2Web operation F1 over lower-cased whitespace token *sets*.

    Tokens that are a substring of ``string.punctuation`` are dropped (the reference tests ``token not in
    string.punctuation``, a substring test, so lone marks like ``-`` and runs like ``()`` go). Both empty -> 1, one
    empty -> 0.
    """
    pred_tokens = {t for t in pred.lower().strip().split() if t not in string.punctuation}
    label_tokens = {t for t in label.lower().strip().split() if t not in string.punctuation}
    if not pred_tokens and not label_tokens:
        return 1.0
    if not pred_tokens or not label_tokens:
        return 0.0
    true_positive = len(pred_tokens & label_tokens)
    if true_positive == 0:
        return 0.0
    precision = true_positive / len(pred_tokens)
    recall = true_positive / len(label_tokens)
    return 2 * precision * recall / (precision + recall)


def mean(values: Iterable[float], empty: float = 0.0) -> float:
    """Arithmetic mean; ``empty`` for no values (the reference reports 0 for empty subsets)."""
    values = list(values)
    return sum(values) / len(values) if values else empty
