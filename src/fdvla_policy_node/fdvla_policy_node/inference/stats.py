"""Rolling figures of the policy node for /diagnostics."""

from __future__ import annotations

import threading
from collections import Counter, deque

import numpy as np


class InferenceStats:
    def __init__(self, window: int = 200):
        self._lock = threading.Lock()
        self.latency = deque(maxlen=window)  # s, inference only
        self.obs_age = deque(maxlen=window)  # s, observation stamp -> chunk publish
        self.idle = deque(maxlen=window)  # s, controller without a chunk before each new one
        self.publish_times = deque(maxlen=window)
        self.skips: Counter = Counter()
        self.events: Counter = Counter()  # what happened to chunks, e.g. old_chunk_not_followed
        self.chunks = 0

    def record(self, latency: float, obs_age: float, idle: float, published_at: float) -> None:
        with self._lock:
            self.latency.append(latency)
            self.obs_age.append(obs_age)
            self.idle.append(idle)
            self.publish_times.append(published_at)
            self.chunks += 1

    def skip(self, reason: str) -> None:
        with self._lock:
            self.skips[reason] += 1

    def count(self, event: str) -> None:
        with self._lock:
            self.events[event] += 1

    def summary(self) -> dict:
        with self._lock:
            lat = np.array(self.latency) * 1e3
            age = np.array(self.obs_age) * 1e3
            idle = np.array(self.idle) * 1e3
            pub = np.array(self.publish_times)
            out = {"chunks": self.chunks,
                   "skipped_total": sum(self.skips.values())}
            out.update({f"skipped.{k}": v for k, v in sorted(self.skips.items())})
            out.update(sorted(self.events.items()))
        def pct(a, q):
            return float(np.percentile(a, q)) if len(a) else float("nan")
        out.update({
            "inference_ms_p50": pct(lat, 50), "inference_ms_p99": pct(lat, 99),
            "obs_age_ms_p50": pct(age, 50), "obs_age_ms_p99": pct(age, 99),
            "idle_ms_mean": float(idle.mean()) if len(idle) else float("nan"),
            "idle_ms_max": float(idle.max()) if len(idle) else float("nan"),
            "chunks_per_s": (float((len(pub) - 1) / (pub[-1] - pub[0]))
                             if len(pub) > 1 and pub[-1] > pub[0] else 0.0),
        })
        return out
