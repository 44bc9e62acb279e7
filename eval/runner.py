"""The sweep runner: every (method, budget) run of one benchmark, one JSONL row per sample as it is produced, resumable.

    config = EvalConfig("screenspot_v2", model="ByteDance-Seed/UI-TARS-1.5-7B", methods=("snap_kv", "gui_kv"),
                        budgets=("0.1", "0.2"), data_dir=..., images_dir=..., results_dir=Path("results"))
    result = run_sweep(config, on_event=print)        # rows in results/results.jsonl, files per run (eval.results)

How a sample is generated. Single-screenshot benchmarks: one fresh session holding the sample's prompt. Multi-step
benchmarks (``bench.multi_step``) have two memories:

* ``reference`` (the GUI-KV paper): each generation rebuilds the sample's full prompt (earlier steps as the reference
  lays them out, with the model's own earlier outputs) and prefills it from scratch in a fresh session.
* ``persistent`` (ours): an episode is ONE session: the preamble, then per step the new user turn, a generation, and
  the model's raw output kept as the assistant turn, the cache compressed to its budget on every prefill.

Prompts are built in one mode (``prompts``, default ``reference``: byte-identical to the reference drivers, quirks in
prompt construction included) and every output is scored in both scoring modes; both are stored in the row.

Resume. A row's key is its run (``eval.results.RUN_FIELDS``) and sample id; a sweep skips keys already in the file and
seeds the prompts' history with their recorded outputs, which is exactly what an uninterrupted run would have seen.
Persistent memory is the exception: an episode's rows come from one conversation whose cache was compressed step by
step, and re-feeding finished steps would compress at other points and change later outputs. So a resume discards the
rows of an episode that was cut off (the results file is rewritten atomically without them) and replays that episode
from its first step: a resumed sweep writes the same rows as one that never stopped, and nothing is counted twice.

Failures. A generation that raises is recorded in its row (``error``), scored as an empty answer (wrong in both modes),
and left out of later prompts' history (those fall back to what the reference uses for a step without output); it is
never replaced by another sample's output. In persistent memory the next step starts a new session rebuilt from the
episode's successful turns. ``max_consecutive_failures`` failures in a row stop the sweep (a broken setup, not a model
error); ``retry_failed`` re-runs failed rows on resume.
"""

from __future__ import annotations

import inspect
import json
import os
import socket
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Literal, get_args

from eval.benchmarks import BENCHMARKS, Benchmark, BenchmarkDataError, Dataset, Sample, make_benchmark
from eval.benchmarks.base import nothing_to_run
from eval.report import headline
from eval.results import (
    RESULTS_FILE,
    SWEEPS_FILE,
    RowWriter,
    RunScores,
    RunSpec,
    append_json,
    generation_failures,
    read_rows,
    results_lock,
    rewrite_rows,
    run_key,
    score_from_row,
    score_record,
    write_run_files,
)
from eval.scoring import ADAPTER_NAMES, SCORING_MODES, AdapterName, ScoringMode, check_adapter, check_mode
from guikv.budget import Budget
from guikv.loading import DEFAULT_MODEL, resolve_source
from guikv.models import MODEL_SPECS, ModelSpec, UnknownModelError, spec_for_model, spec_named
from guikv.models.pixels import PixelLimits
from guikv.presses.registry import PRESSES, make_press

Memory = Literal["reference", "persistent"]
MEMORIES: tuple[str, ...] = get_args(Memory)
MAX_GENERATIONS_PER_SAMPLE = 16
"""A guard against a sample that never stops asking (Mind2Web stops at 5)."""
CHUNK = 8
"""Single-screenshot samples per work unit (the granularity of Ray tasks)."""


class EvalAborted(RuntimeError):
    """Too many generations failed in a row: the setup is broken (rows so far are saved; fix it and resume)."""


def budget_label(value: str | float | int | Budget) -> str:
    """The canonical budget string of a row: ``"0.1"`` for 10 % (``"1.0"`` for 100 %), ``"4096"`` for tokens."""
    budget = Budget.parse(value)
    if not budget.is_fraction:
        return str(int(budget.value))
    text = f"{budget.value:g}"
    return text + ".0" if text.isdigit() else text


def model_spec(model: str, adapter: str | None = None) -> ModelSpec:
    """The registry spec of ``model`` (its folder's ``config.json``, else a hub id's name); with an explicit ``adapter``
    and a model no family matches, the first family whose default adapter it is (its pixel rule). Otherwise
    ``UnknownModelError`` listing the known families: no silent default. ``ModelLoadError`` for a missing folder."""
    try:
        return spec_for_model(model)
    except UnknownModelError:
        if adapter is None:
            resolve_source(model)  # a missing folder says so rather than "unknown family"
            raise
    for spec in MODEL_SPECS.values():
        if spec.default_adapter == adapter:
            return spec
    raise UnknownModelError(f"no model family has the prompt adapter {adapter!r}")  # pragma: no cover - check_adapter first


def detect_adapter(model: str) -> AdapterName:
    """The prompt/parse format of ``model``: its spec's ``default_adapter``; ``UnknownModelError`` when none."""
    spec = model_spec(model)
    if spec.default_adapter is None:
        raise UnknownModelError(
            f"{model}: the {spec.name} family has no prompt adapter; pass --adapter ({', '.join(ADAPTER_NAMES)})"
        )
    return check_adapter(spec.default_adapter)


# --- configuration ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EvalConfig:
    """One ``guikv-agent eval`` invocation. ``budgets`` are fractions (``0.1``, ``10%``) or token counts (``4096``);
    ``full`` runs once whatever the budgets. ``options`` are the benchmark's options (e.g. ``instruction_level``),
    ``method_options`` per-method press options (e.g. ``{"gui_kv": {"alpha": 2.0}}``). ``prompts`` builds prompts in
    that mode; ``scoring`` is only what progress and summaries show (both modes are always stored). ``limit`` keeps the
    first N samples (single-step) or episodes (multi-step). Paths are explicit: the CLI resolves environment variables."""

    benchmark: str
    model: str = DEFAULT_MODEL
    results_dir: Path = Path("results")
    methods: tuple[str, ...] = ("gui_kv",)
    budgets: tuple[str, ...] = ("0.1",)
    memory: Memory = "reference"
    prompts: ScoringMode = "reference"
    scoring: ScoringMode = "corrected"
    adapter: AdapterName | None = None
    """Prompt/parse format; ``None``: the model spec's ``default_adapter`` (resolved when the config is made)."""
    data_dir: Path | None = None
    images_dir: Path | None = None
    options: Mapping[str, Any] = field(default_factory=dict)
    method_options: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    max_new_tokens: int | None = None
    limit: int | None = None
    device: str = "auto"
    dtype: str = "auto"
    attn_implementation: str | None = None
    trust_remote_code: bool = False
    min_pixels: int | None = None
    max_pixels: int | None = None
    """Image-processor limits; ``None``: the model spec's (resolved when the config is made)."""
    retry_failed: bool = False
    max_consecutive_failures: int = 10
    ray: bool = False
    ray_address: str | None = None
    workers: int | None = None
    model_family: str | None = None
    """The registry spec the model belongs to (``guikv.models``); set when the config is made, not an input."""
    threads: int | None = None
    """torch CPU threads of each replica (process-wide); None keeps torch's default (Ray CPU workers: 1). Greedy
    outputs and top-k selections can differ in the last bits between thread counts, so compare runs at equal counts."""

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        if self.benchmark not in BENCHMARKS:
            raise ValueError(f"unknown benchmark {self.benchmark!r}; known: {', '.join(BENCHMARKS)}")
        methods = tuple(dict.fromkeys(self.methods))
        if not methods:
            raise ValueError("no method given; choose from " + ", ".join(PRESSES))
        for method in methods:
            if method not in PRESSES:
                raise ValueError(f"unknown compression method {method!r}; available: {', '.join(PRESSES)}")
        set_(self, "methods", methods)
        set_(self, "budgets", tuple(dict.fromkeys(budget_label(b) for b in self.budgets)))
        if not self.budgets and any(m != "full" for m in methods):
            raise ValueError("no budget given; pass fractions like 0.1 or 10%, or token counts like 4096")
        if self.memory not in MEMORIES:
            raise ValueError(f"memory must be one of {', '.join(MEMORIES)}, got {self.memory!r}")
        check_mode(self.prompts)
        check_mode(self.scoring)
        if self.adapter is not None:
            check_adapter(self.adapter)
        for name in ("max_new_tokens", "limit", "workers", "threads"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"{name} must be >= 1, got {value}")
        local = Path(self.model).expanduser()
        if local.exists():
            set_(self, "model", str(local.resolve()))
        spec = model_spec(self.model, self.adapter)  # before any model loads: an unknown model is an error here
        set_(self, "model_family", spec.name)
        set_(self, "adapter", self.adapter or detect_adapter(self.model))
        if spec.pixels is None:
            raise UnknownModelError(f"{self.model}: the {spec.name} family takes no screenshots; eval needs a vision model")
        limits = spec.pixels.limits
        set_(self, "min_pixels", limits.min_pixels if self.min_pixels is None else self.min_pixels)
        set_(self, "max_pixels", limits.max_pixels if self.max_pixels is None else self.max_pixels)
        if self.min_pixels < 1 or self.max_pixels < self.min_pixels:
            raise ValueError(f"pixel limits must satisfy 1 <= min_pixels <= max_pixels, got {self.min_pixels}, {self.max_pixels}")
        served = BENCHMARKS[self.benchmark].adapters
        if self.adapter not in served:
            raise ValueError(
                f"{self.benchmark} has no prompts for the {self.adapter} format (model family {spec.name}); it serves "
                f"{', '.join(served)} (pass --adapter to pick one)"
            )
        known = BENCHMARKS[self.benchmark].option_defaults()
        unknown = sorted(set(self.options) - set(known))
        if unknown:
            raise ValueError(f"{self.benchmark} has no option {', '.join(unknown)}; options: {', '.join(sorted(known))}")
        for method, options in self.method_options.items():
            if method not in methods:
                raise ValueError(f"options given for {method!r}, which is not in this sweep's methods ({', '.join(methods)})")
            make_press(method, **dict(options))  # ValueError naming the options the method accepts
        set_(self, "results_dir", Path(self.results_dir))
        if self.ray_address:
            set_(self, "ray", True)
        set_(self, "options", dict(self.options))
        set_(self, "method_options", {k: dict(v) for k, v in self.method_options.items()})

    def to_dict(self) -> dict[str, Any]:
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        return json.loads(json.dumps(data, default=str))

    @property
    def pixel_limits(self) -> PixelLimits:
        """The image processor's pixel limits: the frame the model answers in, so the one its points are scored in."""
        return PixelLimits(self.min_pixels, self.max_pixels, spec_named(self.model_family).pixels.factor)

    def make_benchmark(self) -> Benchmark:
        """The benchmark at the configured paths (no environment lookup here: the CLI resolves variables), scoring
        coordinates in the frame this run's processor resizes to."""
        return make_benchmark(self.benchmark, self.data_dir, self.images_dir, env={}, pixels=self.pixel_limits, **self.options)

    def resolved_adapter(self) -> AdapterName:
        return self.adapter or detect_adapter(self.model)  # set in __post_init__; kept for callers

    def runs(self, bench: Benchmark) -> list[RunSpec]:
        """The sweep's runs in order: per method, per budget (``full`` once)."""
        defaults = {f.name: f.default for f in fields(bench)}
        options = {k: getattr(bench, k) for k in self.options if getattr(bench, k) != defaults.get(k)}
        common = {
            "benchmark": self.benchmark,
            "model": self.model,
            "adapter": self.resolved_adapter(),
            "memory": self.memory,
            "prompts": self.prompts,
            "max_new_tokens": self.max_new_tokens or bench.max_new_tokens,
            "options": options,
            "pixels": (self.min_pixels, self.max_pixels),
        }
        runs = []
        for method in self.methods:
            extra = dict(self.method_options.get(method, {}))
            for budget in [None] if method == "full" else self.budgets:
                runs.append(RunSpec(method=method, budget=budget, method_options=extra, **common))
        return runs


# --- what to run --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Group:
    """Samples run in order; with ``episode_id`` set and persistent memory, one conversation."""

    episode_id: str | None
    sample_ids: tuple[str, ...]


@dataclass(frozen=True)
class WorkUnit:
    """Work that depends on nothing outside itself: one run's groups, plus the recorded outputs of its finished samples
    (``seeds``: they are skipped, and later prompts read them as history)."""

    run: RunSpec
    groups: tuple[Group, ...]
    seeds: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def sample_ids(self) -> tuple[str, ...]:
        return tuple(sid for group in self.groups for sid in group.sample_ids)


def select(data: Dataset, bench: Benchmark, limit: int | None) -> Dataset:
    """The first ``limit`` samples (single-step) or episodes (multi-step), as a dataset; bad records all kept."""
    if limit is None:
        return data
    if not bench.multi_step:
        return replace(data, samples=data.samples[:limit])
    episodes = data.episodes[:limit]
    chosen = {sid for episode in episodes for sid in episode.sample_ids}
    return replace(data, samples=tuple(s for s in data.samples if s.id in chosen), episodes=episodes)


def plan_units(bench: Benchmark, data: Dataset, run: RunSpec, chunk: int = CHUNK) -> list[WorkUnit]:
    """Independent units of a run. Single-step: chunks of samples. Multi-step: one unit per episode, or a single unit
    when prompts read other episodes' outputs (``bench.history_spans_episodes``, e.g. Mind2Web's stale history)."""
    if not bench.multi_step:
        ids = [sample.id for sample in data.samples]
        return [WorkUnit(run, tuple(Group(None, (sid,)) for sid in ids[k : k + chunk])) for k in range(0, len(ids), chunk)]
    if bench.history_spans_episodes(run.prompts):
        if run.memory == "persistent":
            groups = tuple(Group(ep.id, ep.sample_ids) for ep in data.episodes if ep.sample_ids)
        else:
            groups = tuple(Group(None, (sample.id,)) for sample in data.samples)
        return [WorkUnit(run, groups)] if groups else []
    return [WorkUnit(run, (Group(ep.id, ep.sample_ids),)) for ep in data.episodes if ep.sample_ids]


# --- running samples on one model replica ---------------------------------------------------------------------------


@dataclass
class _Generated:
    turns: list[str] = field(default_factory=list)
    replies: list[Any] = field(default_factory=list)
    error: str | None = None
    cache: dict[str, Any] | None = None


def resolve_device(device: str) -> str:
    if device != "auto":
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


class Replayer:
    """One model replica running work units: prompts from the benchmark, generations through ``guikv.MemorySession``,
    scores in both modes, one row per sample. The in-process runner uses one; each Ray worker holds one."""

    def __init__(
        self,
        config: EvalConfig,
        *,
        bench: Benchmark | None = None,
        data: Dataset | None = None,
        model: Any = None,
        processor: Any = None,
    ) -> None:
        self.config = config
        self.bench = bench or config.make_benchmark()
        self.data = data or self.bench.load()
        self.samples = {sample.id: sample for sample in self.data.samples}
        self.episodes = {episode.id: episode for episode in self.data.episodes}
        self.episode_of = {sid: episode.id for episode in self.data.episodes for sid in episode.sample_ids}
        self.model, self.processor = model, processor
        self.worker = f"{socket.gethostname()}:{os.getpid()}"
        self._score_reads_history = "history" in inspect.signature(self.bench.score).parameters

    def load_model(self) -> None:
        if self.model is not None:
            return
        from guikv.loading import load_model

        config = self.config
        if config.threads:
            import torch

            torch.set_num_threads(config.threads)
        self.model, self.processor = load_model(
            config.model, dtype=config.dtype, device=resolve_device(config.device),
            attn_implementation=config.attn_implementation, trust_remote_code=config.trust_remote_code,
            min_pixels=config.min_pixels, max_pixels=config.max_pixels,
        )

    @property
    def engine(self) -> dict[str, Any]:
        """What actually ran (the reference files' attention_implementation and model_dtype come from here)."""
        model = self.model
        return {
            "device": str(model.device),
            "dtype": str(model.dtype).replace("torch.", ""),
            "attention": getattr(model.config, "_attn_implementation", None),
        }

    def run(self, unit: WorkUnit) -> Iterator[dict[str, Any]]:
        """Rows of the unit's samples not in ``unit.seeds``, in order, each as soon as it is scored."""
        self.load_model()
        run = unit.run
        history: dict[str, tuple[str, ...]] = dict(unit.seeds)
        persistent = run.memory == "persistent" and self.bench.multi_step
        for group in unit.groups:
            if all(sid in unit.seeds for sid in group.sample_ids):
                continue
            if persistent and group.episode_id is not None:
                yield from self._episode(run, group, history)
                continue
            for sid in group.sample_ids:
                if sid not in unit.seeds:
                    yield self._sample(run, self.samples[sid], history)

    # -- sessions --------------------------------------------------------------------------------------------------
    def _session(self, run: RunSpec, mode: str, max_screenshots: int = 1) -> Any:
        from guikv.session import MemorySession

        budget = run.budget_value
        return MemorySession(
            self.model, self.processor, run.method, None if budget is None else budget.value,
            mode=mode, max_screenshots=max(1, max_screenshots), method_kwargs=dict(run.method_options),
        )

    def _generate(self, run: RunSpec, sample: Sample, history: Mapping[str, Any], ask: Callable[[list[str]], Any]) -> _Generated:
        out = _Generated()
        try:
            while sample.wants_more(out.turns, run.adapter, mode=run.prompts, history=history):
                if len(out.turns) >= MAX_GENERATIONS_PER_SAMPLE:
                    raise RuntimeError(f"{sample.id} asked for more than {MAX_GENERATIONS_PER_SAMPLE} generations")
                reply, cache = ask(out.turns)
                out.turns.append(reply.text)
                out.replies.append(reply)
                out.cache = cache
        except Exception as error:  # a failed generation is a recorded failure, never another sample's answer
            out.error = f"{type(error).__name__}: {error}"
        return out

    def _sample(self, run: RunSpec, sample: Sample, history: dict[str, tuple[str, ...]]) -> dict[str, Any]:
        """Reference memory (and single-step benchmarks): every generation prefills the sample's full prompt afresh."""
        started = time.perf_counter()

        def ask(turns: list[str]) -> tuple[Any, dict[str, Any]]:
            chat = sample.chat(run.adapter, mode=run.prompts, history=history, turns=turns)
            images = sum(1 for m in chat if isinstance(m["content"], list) for i in m["content"] if i.get("type") == "image")
            with self._session(run, "reference", images) as session:
                for message in chat:
                    session.add(message["role"], message["content"])
                reply = session.generate(run.max_new_tokens)
                return reply, session.state().to_dict()

        out = self._generate(run, sample, history, ask)
        if out.error is None:
            history[sample.id] = tuple(out.turns)
        return self._row(run, sample, out, history, started)

    def _episode(self, run: RunSpec, group: Group, history: dict[str, tuple[str, ...]]) -> Iterator[dict[str, Any]]:
        """Persistent memory: the episode in one session; after a failed step, a new one rebuilt from the good turns."""
        episode = self.episodes[group.episode_id]
        transcript = [m.to_chat() for m in self.data.preamble(episode, run.adapter, mode=run.prompts)]
        session = None
        try:
            for sid in group.sample_ids:
                sample = self.samples[sid]
                started = time.perf_counter()
                if session is None:
                    session = self._session(run, "persistent")
                    for message in transcript:
                        session.add(message["role"], message["content"])
                start = len(session.messages)

                def ask(turns: list[str], sample: Sample = sample, session: Any = session) -> tuple[Any, dict[str, Any]]:
                    turn = sample.turn(run.adapter, mode=run.prompts, history=history, turns=turns).to_chat()
                    session.add("user", turn["content"])
                    reply = session.generate(run.max_new_tokens)  # the raw output becomes the assistant turn
                    return reply, session.state().to_dict()

                out = self._generate(run, sample, history, ask)
                if out.error is None:
                    transcript.extend(session.messages[start:])
                    history[sid] = tuple(out.turns)
                else:
                    session.close()
                    session = None
                yield self._row(run, sample, out, history, started)
        finally:
            if session is not None:
                session.close()

    # -- rows ------------------------------------------------------------------------------------------------------
    def _score(self, prediction: Sequence[str], sample: Sample, adapter: str, mode: ScoringMode, history: Mapping) -> Any:
        score = self.bench.score
        try:
            if self._score_reads_history:  # Mind2Web reports the (stale) history each generation saw
                return score(prediction, sample, adapter, mode, history=history)
            return score(prediction, sample, adapter, mode)
        except Exception as error:  # our scorer broke on this output: stop and say where
            raise RuntimeError(
                f"{self.bench.name} scoring ({mode}) crashed on sample {sample.id} with output {list(prediction)!r}: {error}"
            ) from error

    def _row(self, run: RunSpec, sample: Sample, out: _Generated, history: Mapping, started: float) -> dict[str, Any]:
        # A failed generation is scored as an empty answer after whatever it produced: wrong, and nobody else's.
        prediction = [*out.turns, ""] if out.error is not None else out.turns
        scores = {mode: score_record(self._score(prediction, sample, run.adapter, mode, history)) for mode in SCORING_MODES}
        replies = out.replies
        return {
            **run.to_dict(),
            "sample_id": sample.id,
            "episode_id": self.episode_of.get(sample.id),
            "outputs": list(out.turns),
            "error": out.error,
            "scores": scores,
            "meta": dict(sample.meta),
            "generations": len(replies),
            "prefill_tokens": [r.prefill_tokens for r in replies],
            "generated_tokens": [len(r.token_ids) for r in replies],
            "stopped_by_eos": [r.stopped_by_eos for r in replies],
            "cache": out.cache,
            "engine": self.engine,
            "timing": {
                "seconds": round(time.perf_counter() - started, 4),
                "prefill_seconds": round(sum(r.prefill_seconds for r in replies), 4),
                "compress_seconds": round(sum(r.compress_seconds for r in replies), 4),
                "decode_seconds": round(sum(r.decode_seconds for r in replies), 4),
                "finished_at": round(time.time(), 3),
                "worker": self.worker,
            },
        }


# --- resume -------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ResumeInfo:
    """What a sweep found in its results file and what it had to undo (all of it said, none of it silent)."""

    resumed_rows: int = 0
    discarded_episodes: tuple[dict[str, Any], ...] = ()
    retried_failures: int = 0
    truncated_tail: bool = False
    duplicates_removed: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "resumed_rows": self.resumed_rows,
            "discarded_episodes": list(self.discarded_episodes),
            "retried_failures": self.retried_failures,
            "truncated_tail": self.truncated_tail,
            "duplicates_removed": self.duplicates_removed,
        }


def prepare_resume(
    path: Path, runs: Sequence[RunSpec], bench: Benchmark, data: Dataset, *, retry_failed: bool = False
) -> tuple[dict[str, dict[str, dict[str, Any]]], ResumeInfo]:
    """The finished rows of ``runs`` (run key -> sample id -> row) after making the file consistent: a truncated last
    line, duplicate keys, failed rows (with ``retry_failed``) and cut-off persistent episodes are removed by one atomic
    rewrite. Rows of other runs and other samples are kept untouched."""
    found = read_rows(path)
    ours = {run.key: run for run in runs}
    selected = {sample.id for sample in data.samples}
    drop: set[int] = set()
    retried = 0
    done: dict[str, dict[str, tuple[int, dict[str, Any]]]] = {key: {} for key in ours}
    for index, row in enumerate(found.rows):
        key = run_key(row)
        if key not in ours or row["sample_id"] not in selected:
            continue
        if retry_failed and row.get("error"):
            drop.add(index)
            retried += 1
            continue
        done[key][row["sample_id"]] = (index, row)
    discarded = []
    if bench.multi_step:
        for key, run in ours.items():
            if run.memory != "persistent":
                continue
            for episode in data.episodes:
                present = [sid for sid in episode.sample_ids if sid in done[key]]
                if present and len(present) < len(episode.sample_ids):
                    for sid in present:
                        drop.add(done[key].pop(sid)[0])
                    discarded.append({"run": run.label(), "episode_id": episode.id, "rows": len(present)})
    if drop or found.truncated_tail or found.duplicates:
        rewrite_rows(path, [row for index, row in enumerate(found.rows) if index not in drop])
    finished = {key: {sid: row for sid, (_, row) in rows.items()} for key, rows in done.items()}
    info = ResumeInfo(
        resumed_rows=sum(len(rows) for rows in finished.values()),
        discarded_episodes=tuple(discarded),
        retried_failures=retried,
        truncated_tail=found.truncated_tail,
        duplicates_removed=found.duplicates,
    )
    return finished, info


# --- the sweep ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunOutcome:
    """A finished run: its folder, sample and failure counts, the headline metric per scoring mode, files written."""

    run: RunSpec
    folder: Path
    samples: int
    failures: int
    headline: Mapping[str, float]
    files: tuple[Path, ...]
    first_error: str | None = None


@dataclass(frozen=True)
class RunProgress:
    """A progress event: a run started (``start``), produced a row (``row``) or wrote its files (``finish``).
    ``accuracy`` is the running mean of per-sample scores in the configured scoring mode (None before any row)."""

    kind: Literal["start", "row", "finish"]
    run: RunSpec
    done: int
    total: int
    accuracy: float | None
    failures: int
    row: Mapping[str, Any] | None = None
    outcome: RunOutcome | None = None


@dataclass(frozen=True)
class SweepResult:
    config: EvalConfig
    results_file: Path
    samples: int
    outcomes: tuple[RunOutcome, ...]
    resume: ResumeInfo
    bad_records: Mapping[str, Any]


class _RunState:
    """One run's rows so far (resumed ones included) and its running accuracy."""

    def __init__(self, run: RunSpec, total: int, rows: dict[str, dict[str, Any]], scoring: ScoringMode) -> None:
        self.run, self.total, self.scoring = run, total, scoring
        self.rows: dict[str, dict[str, Any]] = {}
        self.value_sum, self.failures = 0.0, 0
        self.outcome: RunOutcome | None = None
        for row in rows.values():
            self.add(row)

    def add(self, row: dict[str, Any]) -> None:
        self.rows[row["sample_id"]] = row
        self.value_sum += row["scores"][self.scoring]["value"]
        self.failures += 1 if row.get("error") else 0

    @property
    def complete(self) -> bool:
        return len(self.rows) >= self.total

    def event(self, kind: Literal["start", "row", "finish"], row: Mapping[str, Any] | None = None) -> RunProgress:
        accuracy = self.value_sum / len(self.rows) if self.rows else None
        return RunProgress(kind, self.run, len(self.rows), self.total, accuracy, self.failures, row, self.outcome)


def reference_header(run: RunSpec, mode: ScoringMode, engine: Mapping[str, Any] | None) -> dict[str, Any]:
    """The reference's run keys (its names and units: ``original`` = full cache, budget in percent), then ours."""
    engine = engine or {}
    header = {
        "model_path": run.model,
        "kv_cache": "original" if run.method == "full" else run.method,
        "kv_cache_budget": run.budget_percent,
        "attention_implementation": engine.get("attention"),
        "model_dtype": engine.get("dtype"),
        "max_new_tokens": run.max_new_tokens,
        "scoring_mode": mode,
        "memory": run.memory,
        "prompt_mode": run.prompts,
        "model_family": run.adapter,
    }
    if run.method_options:
        header["kv_cache_options"] = dict(run.method_options)
    return header


def finish_run(
    run: RunSpec, rows: Mapping[str, Mapping[str, Any]], bench: Benchmark, data: Dataset, config: EvalConfig
) -> RunOutcome:
    """Summaries in both modes from the rows (in data order) and the run's files: ``summary.json`` and the reference's."""
    ordered = tuple(rows[sample.id] for sample in data.samples)
    engine = ordered[0].get("engine") if ordered else None
    results, summaries = {}, {}
    for mode in SCORING_MODES:
        scores = tuple(score_from_row(row, mode) for row in ordered)
        summaries[mode] = bench.summarize(scores, data, mode)
        results[mode] = RunScores(run, mode, ordered, scores, summaries[mode], data, reference_header(run, mode, engine))
    headlines = {mode: headline(run.benchmark, summaries[mode]) for mode in SCORING_MODES}
    failures = generation_failures(ordered)
    summary = {
        "run": run.to_dict(),
        "samples": len(ordered),
        "generation_failures": failures,
        "headline": headlines,
        "engine": engine,
        "scoring": summaries,
        "config": config.to_dict(),
    }
    folder = run.folder(config.results_dir)
    files = write_run_files(folder, results, summary)
    first_error = failures["samples"][0]["error"] if failures["samples"] else None
    return RunOutcome(run, folder, len(ordered), failures["count"], headlines, tuple(files), first_error)


def run_sweep(
    config: EvalConfig,
    *,
    on_event: Callable[[RunProgress], None] | None = None,
    replayer: Replayer | None = None,
) -> SweepResult:
    """Run (or resume) every run of ``config``; rows go to ``results_dir/results.jsonl`` as they are produced, each
    run's files are written when it is complete. ``replayer`` reuses a loaded model (in-process only)."""
    emit = on_event or (lambda event: None)
    bench = config.make_benchmark()
    everything = bench.load()
    data = select(everything, bench, config.limit)
    if not data.samples:  # only bad records: a setup problem (paths, layout), never "accuracy 0.0"
        if everything.samples:
            raise BenchmarkDataError(
                f"{bench.name}: the first {config.limit} episode(s) hold no runnable sample (their rows are all bad "
                "records); raise --limit"
            )
        raise BenchmarkDataError(nothing_to_run(bench, everything))
    runs = config.runs(bench)
    results_file = config.results_dir / RESULTS_FILE
    with results_lock(config.results_dir):
        finished, resume = prepare_resume(results_file, runs, bench, data, retry_failed=config.retry_failed)
        append_json(
            config.results_dir / SWEEPS_FILE,
            {"started_at": time.time(), "config": config.to_dict(), "resume": resume.to_dict()},
        )
        states = {run.key: _RunState(run, len(data), finished[run.key], config.scoring) for run in runs}
        units = []
        for run in runs:
            rows = states[run.key].rows
            seeds = {sid: tuple(r["outputs"]) for sid, r in rows.items() if not r.get("error")}
            for unit in plan_units(bench, data, run):
                if all(sid in rows for sid in unit.sample_ids):
                    continue
                units.append(replace(unit, seeds={sid: seeds[sid] for sid in unit.sample_ids if sid in seeds}))
        for state in states.values():
            emit(state.event("start"))
            if state.complete:
                _finish(state, bench, data, config, emit)
        if units:
            rows_stream = _stream(config, units, bench, everything, replayer)
            _consume(rows_stream, results_file, states, bench, data, config, emit)
        unfinished = [state.run.label() for state in states.values() if state.outcome is None]
        if unfinished:
            raise RuntimeError(f"runs did not complete: {', '.join(unfinished)} (re-run the same command to resume)")
    return SweepResult(
        config, results_file, len(data), tuple(states[run.key].outcome for run in runs), resume, everything.bad_summary()
    )


def _finish(state: _RunState, bench: Benchmark, data: Dataset, config: EvalConfig, emit: Callable) -> None:
    state.outcome = finish_run(state.run, state.rows, bench, data, config)
    emit(state.event("finish"))


def _stream(
    config: EvalConfig, units: Sequence[WorkUnit], bench: Benchmark, data: Dataset, replayer: Replayer | None
) -> Iterable[dict[str, Any]]:
    if config.ray:
        from eval.scale import ray_rows

        return ray_rows(config, units)
    replayer = replayer or Replayer(config, bench=bench, data=data)
    replayer.load_model()  # fail on a bad model before the first row, not inside the progress bar
    return (row for unit in units for row in replayer.run(unit))


def _consume(
    rows: Iterable[dict[str, Any]],
    results_file: Path,
    states: Mapping[str, _RunState],
    bench: Benchmark,
    data: Dataset,
    config: EvalConfig,
    emit: Callable[[RunProgress], None],
) -> None:
    consecutive = 0
    with RowWriter(results_file) as writer:
        for row in rows:
            state = states.get(run_key(row))
            if state is None or row["sample_id"] in state.rows:
                raise RuntimeError(f"a worker returned a row this sweep did not ask for: {row.get('sample_id')!r}")
            written = writer.write(row)
            state.add(written)
            consecutive = consecutive + 1 if written.get("error") else 0
            emit(state.event("row", written))
            if state.complete:
                _finish(state, bench, data, config, emit)
            if config.max_consecutive_failures and consecutive >= config.max_consecutive_failures:
                raise EvalAborted(
                    f"{consecutive} generations in a row failed; the last: {written['error']}. The rows are saved; fix "
                    "the cause and re-run the same command with --retry-failed"
                )
