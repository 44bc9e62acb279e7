"""What every offline benchmark shares: samples, scores, data sets, and the ``Benchmark`` base class (reading
records, bad records and input errors: :mod:`eval.benchmarks.records`).

The seam for a runner (issue 5)::

    bench = make_benchmark("agentnetbench")                      # paths from arguments, else env vars
    data = bench.load()                                          # samples + bad records (never silently dropped)
    outputs, scores = {}, []                                     # sample id -> the model's outputs (the history)
    for sample in data:                                          # episodes' steps come in order
        turns = []
        while sample.wants_more(turns, adapter, mode=mode, history=outputs):
            chat = sample.chat(adapter, mode=mode, history=outputs, turns=turns)   # Qwen content format, PIL images
            turns.append(model(chat))
        outputs[sample.id] = turns
        scores.append(bench.score(turns, sample, adapter, mode))
    summary = bench.summarize(scores, data, mode)                # reference keys + bad records

Memory modes on multi-step benchmarks (``bench.multi_step``; episodes in ``data.episodes``): ``reference`` memory
(the paper's re-prefill of the last N screenshots) sends ``sample.chat(...)`` whole at every step, where earlier steps
appear as the reference lays them out (AgentNetBench: ``# Step k:`` assistant turns holding the model's own earlier
outputs, looked up in ``history``). A persistent memory session instead starts from ``data.preamble(episode, adapter)``,
appends only ``sample.turn(...)`` (the new user message: current screenshot + prompt) per step or generation, and keeps
the model's raw output as the assistant turn after it, as generated. The final user turn is identical in both memory
modes; only how earlier steps are represented differs. ``mode`` matters for prompts too: some reference quirks live in
sample construction (AgentNetBench OpenCUA history images, Mind2Web stale history).
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from PIL import Image, UnidentifiedImageError

from eval.benchmarks.records import BadRecord, BenchmarkDataError, MissingImage, RecordProblem, layout_hint
from eval.scoring import DEFAULT_MODE, AdapterName, ScoringMode
from guikv.models.pixels import PixelLimits
from guikv.models.registry import UI_TARS_PIXEL_LIMITS

History = Mapping[str, str | Sequence[str]]
"""The model's outputs for samples already run, keyed by sample id (one string, or every generation of the sample)."""

B = TypeVar("B", bound="Benchmark")


# --- images and messages ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ImageRef:
    """A screenshot on disk, checked at load time; pixels are read only when a prompt is built (``open``)."""

    path: Path
    width: int
    height: int

    @property
    def size(self) -> tuple[int, int]:
        return (self.width, self.height)

    def open(self) -> Image.Image:
        """The image as RGB, fully read (the file is closed again)."""
        with Image.open(self.path) as image:
            return image.convert("RGB")

    @classmethod
    def inspect(cls, path: str | Path, *, verify: bool = True) -> ImageRef:
        """Size of the image at ``path``; RecordProblem if it is missing or cannot be decoded."""
        path = Path(path)
        if not path.is_file():
            raise MissingImage(path)
        try:
            with Image.open(path) as image:
                width, height = image.size
                if verify:
                    image.verify()
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
            raise RecordProblem(f"image cannot be decoded: {path} ({type(error).__name__}: {error})") from error
        if width <= 0 or height <= 0:
            raise RecordProblem(f"image has zero size: {path}")
        return cls(path, width, height)


Part = ImageRef | str
"""One content item of a message: a screenshot or a piece of text."""


@dataclass(frozen=True)
class Message:
    """One chat turn. ``content`` items are screenshots (:class:`ImageRef`) or text, in order."""

    role: str
    content: tuple[Part, ...]

    @property
    def images(self) -> tuple[ImageRef, ...]:
        return tuple(part for part in self.content if isinstance(part, ImageRef))

    @property
    def text(self) -> str:
        return "".join(part for part in self.content if isinstance(part, str))

    def to_chat(self) -> dict[str, Any]:
        """Qwen content format; system/assistant turns made only of text become a plain string, as the reference sends them."""
        if self.role != "user" and not self.images:
            return {"role": self.role, "content": self.text}
        items = [
            {"type": "image", "image": part.open()} if isinstance(part, ImageRef) else {"type": "text", "text": part}
            for part in self.content
        ]
        return {"role": self.role, "content": items}


def to_chat(messages: Sequence[Message]) -> list[dict[str, Any]]:
    """Messages in the Qwen content format with every screenshot opened as a PIL image."""
    return [message.to_chat() for message in messages]


def as_turns(prediction: str | Sequence[str]) -> tuple[str, ...]:
    """A prediction as the tuple of its generations (a single string is one generation)."""
    if isinstance(prediction, str):
        return (prediction,)
    turns = tuple(prediction)
    if not all(isinstance(turn, str) for turn in turns):
        raise TypeError("a prediction is the model's output text, or a sequence of output texts")
    return turns


def last_output(value: str | Sequence[str]) -> str:
    """The final generation of a history entry."""
    turns = as_turns(value)
    return turns[-1] if turns else ""


# --- samples, bad records, scores, data sets ------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Sample(ABC):
    """One unit the model is prompted for and scored on (a grounding item, an episode step, a Mind2Web row).

    ``truth`` is the benchmark's ground truth; ``meta`` holds what summaries group by (split, category, platform,
    episode id, step index, ...). Prompts depend on the model adapter, the scoring mode (some reference quirks live in
    sample construction), the outputs of earlier samples (``history``) and the earlier generations of this sample
    (``turns``; Mind2Web regenerates after a scroll).
    """

    id: str
    benchmark: str
    truth: Any
    meta: Mapping[str, Any]

    @property
    @abstractmethod
    def images(self) -> tuple[ImageRef, ...]:
        """Every screenshot of this sample itself (not of its history), in order."""

    @abstractmethod
    def messages(
        self,
        adapter: AdapterName,
        *,
        mode: ScoringMode = DEFAULT_MODE,
        history: History | None = None,
        turns: Sequence[str] = (),
    ) -> list[Message]:
        """The full prompt for the next generation (what the reference re-prefills)."""

    def wants_more(
        self, turns: Sequence[str], adapter: AdapterName, *, mode: ScoringMode = DEFAULT_MODE, history: History | None = None
    ) -> bool:
        """Whether another generation is needed after ``turns`` (default: exactly one)."""
        return not turns

    def turn(
        self,
        adapter: AdapterName,
        *,
        mode: ScoringMode = DEFAULT_MODE,
        history: History | None = None,
        turns: Sequence[str] = (),
    ) -> Message:
        """The new user message this generation appends to a persistent conversation (the prompt's last message)."""
        return self.messages(adapter, mode=mode, history=history, turns=turns)[-1]

    def chat(
        self,
        adapter: AdapterName,
        *,
        mode: ScoringMode = DEFAULT_MODE,
        history: History | None = None,
        turns: Sequence[str] = (),
    ) -> list[dict[str, Any]]:
        """:meth:`messages` in the Qwen content format, screenshots opened as PIL images."""
        return to_chat(self.messages(adapter, mode=mode, history=history, turns=turns))


@dataclass(frozen=True)
class Score:
    """The score of one sample. ``value`` is the per-sample headline (0/1, or AgentNetBench's soft score);
    ``prediction`` the benchmark action the output mapped to; ``details`` the benchmark's per-sample fields;
    ``error`` the reason when the output could not be parsed (a model error, scored as wrong)."""

    sample_id: str
    benchmark: str
    adapter: AdapterName
    mode: ScoringMode
    value: float
    prediction: Any
    details: Mapping[str, Any]
    meta: Mapping[str, Any]
    error: str | None = None

    @property
    def correct(self) -> bool:
        return self.value >= 1.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "sample_id": self.sample_id,
            "benchmark": self.benchmark,
            "adapter": self.adapter,
            "mode": self.mode,
            "value": self.value,
            "prediction": self.prediction,
            **dict(self.details),
            "meta": dict(self.meta),
            **({"error": self.error} if self.error is not None else {}),
        }


@dataclass(frozen=True)
class Episode:
    """A multi-step task: its runnable samples in order, and its length including steps that became bad records."""

    id: str
    length: int
    sample_ids: tuple[str, ...]
    meta: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Dataset:
    """A loaded benchmark: runnable samples, bad records (counted and listed, never dropped silently), episodes."""

    benchmark: str
    samples: tuple[Sample, ...]
    bad_records: tuple[BadRecord, ...] = ()
    episodes: tuple[Episode, ...] = ()

    def __iter__(self) -> Iterator[Sample]:
        return iter(self.samples)

    def __len__(self) -> int:
        return len(self.samples)

    def sample(self, sample_id: str) -> Sample:
        for sample in self.samples:
            if sample.id == sample_id:
                return sample
        raise KeyError(f"{self.benchmark} has no sample {sample_id!r}")

    def episode_samples(self, episode: Episode) -> list[Sample]:
        by_id = {sample.id: sample for sample in self.samples}
        return [by_id[sample_id] for sample_id in episode.sample_ids]

    def preamble(self, episode: Episode, adapter: AdapterName, *, mode: ScoringMode = DEFAULT_MODE) -> list[Message]:
        """Messages a persistent session starts with before the episode's first step (e.g. a system turn)."""
        samples = self.episode_samples(episode)
        return samples[0].messages(adapter, mode=mode)[:-1] if samples else []

    def bad_summary(self) -> dict[str, Any]:
        """The bad records as the run summary lists them."""
        return {"count": len(self.bad_records), "records": [record.to_dict() for record in self.bad_records]}


def nothing_to_run(bench: Benchmark, data: Dataset) -> str:
    """Why ``data`` (loaded by ``bench``) has no runnable sample, and what to check: a run of only bad records is a
    setup problem (most often the image tree one level off), never an accuracy of 0."""
    bad = data.bad_records
    where = f"{bench.name}: no runnable sample in {bench.data_dir}"
    if not bad:
        return f"{where}: it holds no records (expected {bench.data_description})"
    missing = [record.missing_image for record in bad if record.missing_image is not None]
    first = "; ".join(f"{Path(r.path).name}" + (f" #{r.index}" if r.index is not None else "") + f": {r.reason}" for r in bad[:3])
    if len(missing) * 2 < len(bad):
        return f"{where}: all {len(bad)} records are bad; first: {first}"
    hint = layout_hint(bench.images_dir, missing[0])
    return (
        f"{where}: all {len(bad)} records are bad, {len(missing)} for a missing image. No image found under "
        f"{bench.images_dir} where the records put them (e.g. {missing[0]}); is the image tree one level off? {hint}"
        f"(set {bench.images_env} or --images to the folder the records' image paths start from)"
    )


# --- the benchmark base class -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Benchmark(ABC):
    """A benchmark's configuration (where its files are, its options) plus its loader, scorer and summary.

    Subclasses add their options as fields with defaults and set the class attributes below. ``pixels`` is not an
    option of the benchmark but of the run: the image processor's pixel limits, i.e. the frame the model's
    coordinates are in; scorers convert them with it (the reference always uses UI-TARS' limits, the default).
    """

    data_dir: Path
    images_dir: Path
    verify_images: bool = True
    pixels: PixelLimits = UI_TARS_PIXEL_LIMITS

    name: ClassVar[str]
    data_env: ClassVar[str]
    images_env: ClassVar[str]
    data_description: ClassVar[str]
    """What ``data_dir`` must hold, for error messages."""
    multi_step: ClassVar[bool] = False
    adapters: ClassVar[tuple[str, ...]]
    """Prompt/parse formats the benchmark has prompts and parsers for (``eval.scoring.AdapterName``): the keys of its
    prompt module's ``TEMPLATES`` (``eval/benchmarks/<name>_prompts.py``), so a family's prompts live in one place."""
    max_new_tokens: ClassVar[int]
    """The reference's generation budget for this benchmark (greedy decoding)."""
    result_files: ClassVar[tuple[str, ...]]
    """File names the reference writes its results to (specs/benchmarks.md §1.8, 2.7, 3.5, 4.5, 5.6)."""
    headline_label: ClassVar[str]
    """What :meth:`headline` is called in report tables and plots (the paper's name for it)."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "data_dir", Path(self.data_dir))
        object.__setattr__(self, "images_dir", Path(self.images_dir))

    @classmethod
    def default_images_dir(cls, data_dir: Path) -> Path | None:
        """Where the images live when only the data directory is given (the reference scripts' layout)."""
        return None

    @classmethod
    def option_defaults(cls) -> dict[str, Any]:
        """The benchmark's options (``--option KEY=VALUE``) and their defaults: every field but the paths and pixels."""
        return {f.name: f.default for f in fields(cls) if f.name not in _NOT_OPTIONS}

    @classmethod
    def locate(
        cls: type[B],
        data_dir: str | Path | None = None,
        images_dir: str | Path | None = None,
        *,
        env: Mapping[str, str] | None = None,
        pixels: PixelLimits = UI_TARS_PIXEL_LIMITS,
        **options: Any,
    ) -> B:
        """The benchmark with paths from the arguments, else from its environment variables (``env``, default
        ``os.environ``), else (images only) from the data directory's standard layout. Raises BenchmarkDataError
        naming the variable and the expected content when a path is not given or does not exist."""
        env = os.environ if env is None else env
        known = cls.option_defaults()
        unknown = sorted(set(options) - set(known))
        if unknown:
            raise TypeError(f"{cls.name} has no option {', '.join(unknown)}; options: {', '.join(sorted(known))}")
        data = _resolve(cls, "data", data_dir, env.get(cls.data_env), cls.data_env, None)
        images = _resolve(cls, "images", images_dir, env.get(cls.images_env), cls.images_env, cls.default_images_dir(data))
        return cls(data_dir=data, images_dir=images, pixels=pixels, **options)

    def check_dirs(self) -> None:
        """BenchmarkDataError unless both directories exist."""
        for role, path, variable in (("data", self.data_dir, self.data_env), ("images", self.images_dir, self.images_env)):
            if not path.is_dir():
                what = self.data_description if role == "data" else "the screenshots"
                raise BenchmarkDataError(
                    f"{self.name}: {role} directory {path} does not exist or is not a directory "
                    f"(expected {what}; set {variable} or pass it explicitly)"
                )

    def load(self) -> Dataset:
        """Every sample, with records that cannot be used collected as bad records."""
        self.check_dirs()
        return self._read()

    def history_spans_episodes(self, mode: ScoringMode = DEFAULT_MODE) -> bool:
        """Whether a prompt built in ``mode`` can read the outputs of *another* episode (then a runner must run the
        episodes in order, in one place). By default a prompt reads at most its own episode's earlier outputs."""
        return False

    def image(self, path: Path) -> ImageRef:
        return ImageRef.inspect(path, verify=self.verify_images)

    @abstractmethod
    def _read(self) -> Dataset:
        """Read the files (directories already checked)."""

    @abstractmethod
    def score(
        self, prediction: str | Sequence[str], sample: Sample, adapter: AdapterName, mode: ScoringMode = DEFAULT_MODE
    ) -> Score:
        """Score the model's raw output text (or every generation of the sample) against the ground truth."""

    @abstractmethod
    def summarize(self, scores: Sequence[Score], data: Dataset, mode: ScoringMode = DEFAULT_MODE) -> dict[str, Any]:
        """Aggregate metrics with the reference's keys (plus clearly named extras), and the bad records."""

    # What a summary reports: read from ``summary.json`` alone (no data set, no model), so these are classmethods.

    @classmethod
    @abstractmethod
    def headline(cls, summary: Mapping[str, Any]) -> float:
        """The headline metric (what the paper reports) of one scoring mode's :meth:`summarize` output."""

    @classmethod
    def categories(cls, summary: Mapping[str, Any]) -> dict[str, float]:
        """The per-category breakdown of one scoring mode's summary (category -> fraction); none by default."""
        return {}

    @classmethod
    @abstractmethod
    def reference_files(cls, result: Any) -> dict[str, Any]:
        """The reference's result files (file name -> JSON payload) of one run in one scoring mode, from an
        ``eval.results.RunScores``; each benchmark keeps its writer in ``eval/benchmarks/<name>_files.py``."""


_NOT_OPTIONS = ("data_dir", "images_dir", "pixels")


def _resolve(
    cls: type[Benchmark], role: str, given: str | Path | None, from_env: str | None, variable: str, default: Path | None
) -> Path:
    if given is not None:
        path, source = Path(given), "argument"
    elif from_env:
        path, source = Path(from_env), f"${variable}"
    elif default is not None:
        path, source = default, "default layout"
    else:
        what = cls.data_description if role == "data" else "the screenshots"
        raise BenchmarkDataError(f"{cls.name}: no {role} directory given; set {variable} or pass it explicitly ({what})")
    if not path.is_dir():
        what = cls.data_description if role == "data" else "the screenshots"
        raise BenchmarkDataError(
            f"{cls.name}: {role} directory {path} (from {source}) does not exist or is not a directory; expected {what}"
        )
    return path
