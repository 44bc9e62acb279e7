"""The server's Prometheus metrics, on a registry of its own (never the process-wide default: two apps in one
process, as the tests start, must not share counters)."""

from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

SECONDS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


@dataclass
class ServerMetrics:
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        r = self.registry
        self.sessions = Gauge("guikv_sessions", "conversations whose cache is held", registry=r)
        self.cache_tokens = Gauge("guikv_cache_tokens", "KV slots held, summed over sessions and layers", registry=r)
        self.cache_bytes = Gauge("guikv_cache_bytes", "bytes of keys and values held, all sessions", registry=r)
        self.queued = Gauge("guikv_queued_requests", "requests waiting for the model", registry=r)
        self.requests = Counter("guikv_requests", "completed chat completions by how the cache was matched",
                                ["match"], registry=r)
        self.errors = Counter("guikv_errors", "requests answered with an error, by HTTP status", ["status"], registry=r)
        self.cancelled = Counter("guikv_cancelled", "replies cancelled by a client that went away (rolled back)",
                                 registry=r)
        self.evictions = Counter("guikv_evictions", "sessions evicted (least recently used) under the caps", registry=r)
        self.prefill_tokens = Counter("guikv_prefill_tokens", "prompt tokens prefilled", registry=r)
        self.cached_tokens = Counter("guikv_cached_tokens", "prompt tokens reused from a cache", registry=r)
        self.completion_tokens = Counter("guikv_completion_tokens", "tokens decoded", registry=r)
        self.prefill_seconds = Histogram("guikv_prefill_seconds", "prefill time per request", buckets=SECONDS,
                                         registry=r)
        self.decode_seconds = Histogram("guikv_decode_seconds", "decode time per request", buckets=SECONDS, registry=r)

    def hits(self) -> float:
        return self.value("guikv_requests_total", match="extend") + self.value("guikv_requests_total", match="slide")

    def value(self, name: str, **labels: str) -> float:
        found = self.registry.get_sample_value(name, labels or None)
        return 0.0 if found is None else found

    def text(self) -> bytes:
        return generate_latest(self.registry)
