"""One ``guikv-agent eval`` invocation as a frozen dataclass, and how a model names its prompt/parse format.

``EvalConfig`` resolves, when it is made and before any model loads, the model's registry spec (``guikv.models``), its
adapter (the spec's ``default_adapter`` unless one is given) and its pixel limits (the spec's unless given)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Literal, get_args

from eval.benchmarks import BENCHMARKS, Benchmark, make_benchmark
from eval.results import (
    RunSpec,
)
from eval.scoring import ADAPTER_NAMES, AdapterName, ScoringMode, check_adapter, check_mode
from guikv.budget import Budget
from guikv.loading import DEFAULT_MODEL, resolve_source
from guikv.models import MODEL_SPECS, ModelSpec, UnknownModelError, spec_for_model, spec_named
from guikv.models.pixels import PixelLimits
from guikv.presses.registry import PRESSES, make_press

Memory = Literal["reference", "persistent"]
MEMORIES: tuple[str, ...] = get_args(Memory)


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
