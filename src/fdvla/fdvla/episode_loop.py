"""`fdvla bringup`'s episode loop in simulation with a policy: success (or a timeout) -> the
arm releases and holds for `success_hold` s -> report -> /sim/reset to a new placement -> on.

Each episode is one `SimEpisodeClient.run_episode` (the episode mechanism `fdvla eval` uses);
the running tally goes to the console and to /diagnostics as `fdvla_bringup: episodes`, so the
status table shows episodes, successes, time to success and safety stops. On hardware nothing
resets: there is no loop, and the policy ends holding.
"""

from __future__ import annotations

import threading
import time
from typing import Optional

import numpy as np

from fdvla_drivers.nodes.episode_client import EpisodeOutcome, SimEpisodeClient
from fdvla_msgs import conversions as conv


class EpisodeLoop:
    def __init__(self, run, stop: threading.Event, episodes: Optional[int] = None,
                 timeout: float = 30.0, success_hold: float = 2.0,
                 ready_timeout: float = 300.0):
        self.run, self.stop = run, stop
        self.episodes, self.timeout, self.success_hold = episodes, timeout, success_hold
        self.ready_timeout = ready_timeout
        self.client = run.add_node(SimEpisodeClient("fdvla_episode_loop", context=run.context))
        self.outcomes: list[EpisodeOutcome] = []
        self.finished = False
        self.error = ""
        self._thread = threading.Thread(target=self._loop, name="episode-loop", daemon=True)
        run.monitor.add_source(self.statuses)

    def start(self) -> "EpisodeLoop":
        self._thread.start()
        return self

    def _loop(self) -> None:
        say = self.run.monitor.say
        try:
            t_end = time.monotonic() + self.ready_timeout
            while not self.client.policy_ready:
                if self.stop.is_set():
                    return
                if time.monotonic() > t_end:
                    raise RuntimeError(f"policy not ready after {self.ready_timeout:.0f} s")
                time.sleep(0.1)
            while not self.stop.is_set():
                if self.episodes is not None and len(self.outcomes) >= self.episodes:
                    break
                o = self.client.run_episode(self.timeout, self.success_hold, stop=self.stop)
                if self.stop.is_set():
                    break
                self.outcomes.append(o)
                say(self._line(o))
        except Exception as e:  # noqa: BLE001 - reported; bringup keeps running
            self.error = f"{type(e).__name__}: {e}"
            say(f"[red]episode loop stopped[/]: {self.error}")
        finally:
            self.finished = self.episodes is not None

    @staticmethod
    def _line(o: EpisodeOutcome) -> str:
        verdict = (f"[green]success[/] at {o.success_time:.1f} s" if o.success
                   else f"[red]no success[/] in {o.duration:.0f} s: {o.failure or o.fault}")
        extra = []
        if o.safety_stops:
            extra.append(f"[red]safety stops {o.safety_stops}[/]")
        if o.rejected:
            extra.append(f"refused chunks {o.rejected}")
        return (f"[bold]episode {o.episode}[/] (seed {o.seed}): {verdict}"
                + (f"; {', '.join(extra)}" if extra else ""))

    def tally(self) -> dict:
        n = len(self.outcomes)
        ok = [o for o in self.outcomes if o.success]
        times = [o.success_time for o in ok]
        return {"episodes": n, "successes": len(ok),
                "time_to_success_s_mean": float(np.mean(times)) if times else float("nan"),
                "safety_stops": sum(sum(o.safety_stops.values()) for o in self.outcomes),
                "refused_chunks": sum(sum(o.rejected.values()) for o in self.outcomes)}

    def summary_line(self) -> str:
        t = self.tally()
        mean = (f", mean time to success {t['time_to_success_s_mean']:.1f} s"
                if t["successes"] else "")
        p = self.client.policy
        infer = (f"; policy inference p50 {float(p['inference_ms_p50']):.0f} ms, observation "
                 f"age at publish p50 {float(p['obs_age_ms_p50']):.0f} ms"
                 if "inference_ms_p50" in p else "")
        return (f"[bold]episodes[/]: {t['successes']}/{t['episodes']} successful{mean}, "
                f"{t['safety_stops']} safety stops, {t['refused_chunks']} refused chunks{infer}")

    def statuses(self) -> list:
        """The tally as a /diagnostics row (the status monitor publishes it every second)."""
        t = self.tally()
        level = "ok" if t["safety_stops"] == 0 and not self.error else "warn"
        message = self.error or f"{t['successes']}/{t['episodes']} successful"
        return [conv.diagnostic_status("fdvla_bringup: episodes", level, message, t)]

    def close(self) -> None:
        self.stop.set()
        if self._thread.ident is not None:
            self._thread.join(timeout=max(self.timeout, 5.0))
