"""One model replica running work units (``Replayer``): prompts from the benchmark, generations through
``guikv.MemorySession``, scores in both modes, one row per sample. The in-process sweep uses one; each Ray worker one."""

from __future__ import annotations

import inspect
import os
import socket
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from eval.benchmarks import Benchmark, Dataset, Sample
from eval.config import EvalConfig
from eval.planning import Group, WorkUnit
from eval.results import (
    RunSpec,
    score_record,
)
from eval.scoring import SCORING_MODES, ScoringMode

MAX_GENERATIONS_PER_SAMPLE = 16
"""A guard against a sample that never stops asking (Mind2Web stops at 5)."""


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
