"""One model, one worker thread, a fair queue: requests of different conversations take turns, one conversation's
requests run one after another.

Each conversation (keyed by its session id, or by its first messages) has a FIFO of jobs; the worker takes the head
job of the conversation that has waited longest since it last ran (round-robin over conversations with queued
work), so a client that keeps sending cannot starve the others. Results travel back to the event loop with
``call_soon_threadsafe``. ``Job.cancel()`` (a client went away) skips a queued job (its last event is then the
``GenerationCancelled`` error, so whoever waits on it stops waiting); a running one sees it at its next decoder
layer or token and rolls back (``MemorySession`` is transactional).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from guikv.decoding import GenerationCancelled


class QueueFull(RuntimeError):
    """More requests are waiting than the server takes (``max_queued``)."""


@dataclass
class Job:
    """A request for the worker: ``work(job)`` runs on the worker thread; ``emit`` sends events to the loop."""

    conversation: str
    work: Callable[[Job], Any]
    loop: asyncio.AbstractEventLoop
    events: asyncio.Queue = field(default_factory=asyncio.Queue)
    cancelled: threading.Event = field(default_factory=threading.Event)

    def emit(self, kind: str, value: Any = None) -> None:
        """Called from the worker: ``("delta", text)``, ``("started", None)``, ``("done", result)``, ``("error", exc)``."""
        with contextlib.suppress(RuntimeError):  # the loop has closed (server shutting down): nobody is listening
            self.loop.call_soon_threadsafe(self.events.put_nowait, (kind, value))

    def cancel(self) -> None:
        self.cancelled.set()


class Engine:
    def __init__(self, max_queued: int = 64) -> None:
        if max_queued < 1:
            raise ValueError(f"max_queued must be >= 1, got {max_queued}")
        self.max_queued = max_queued
        self._queues: OrderedDict[str, deque[Job]] = OrderedDict()
        self._condition = threading.Condition()
        self._stopping = False
        self._thread: threading.Thread | None = None
        self.running: Job | None = None

    def start(self) -> None:
        if self._thread is None:
            self._stopping = False
            self._thread = threading.Thread(target=self._run, name="guikv-model-worker", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        with self._condition:
            self._stopping = True
            for queue in self._queues.values():
                for job in queue:
                    job.cancel()
                    job.emit("error", RuntimeError("the server is shutting down"))
            self._queues.clear()
            self._condition.notify_all()
        if self._thread is not None:
            if self.running is not None:
                self.running.cancel()
            self._thread.join(timeout)
            self._thread = None

    def queued(self) -> int:
        with self._condition:
            return sum(len(q) for q in self._queues.values())

    def submit(self, job: Job) -> None:
        with self._condition:
            if self._stopping:
                raise QueueFull("the server is shutting down")
            if sum(len(q) for q in self._queues.values()) >= self.max_queued:
                raise QueueFull(f"{self.max_queued} requests are already waiting for the model")
            self._queues.setdefault(job.conversation, deque()).append(job)
            self._condition.notify()

    def _next(self) -> Job | None:
        with self._condition:
            while True:
                while not self._stopping and not self._queues:
                    self._condition.wait()
                if self._stopping:
                    return None
                conversation, queue = self._queues.popitem(last=False)  # the one that has waited longest
                while queue and queue[0].cancelled.is_set():  # a cancelled job does not cost its conversation a turn
                    _skipped(queue.popleft())
                if not queue:
                    continue
                job = queue.popleft()
                if queue:
                    self._queues[conversation] = queue  # back of the line
                return job

    def _run(self) -> None:
        while (job := self._next()) is not None:
            if job.cancelled.is_set():
                _skipped(job)
                continue
            self.running = job
            try:
                job.emit("done", job.work(job))
            except BaseException as error:  # delivered to the request; the worker keeps serving
                job.emit("error", error)
            finally:
                self.running = None


def _skipped(job: Job) -> None:
    job.emit("error", GenerationCancelled("the request was cancelled before it ran"))
