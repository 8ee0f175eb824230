"""What a policy (or the scripted expert) does *after* the button latches, lock-step.

`fdvla eval --lockstep` ends an episode 0.3 s after the task's success, so it cannot show whether
the arm lets go. This runs the same lock-step loop (evaluation.lockstep.PolicyAgent, the
controller in the ServoLoop cycle, the policy's default settings) but keeps each episode
going `--hold` seconds after the latch, and reports per episode: latched, the controller's fault
(a force stop reads "force ... above limit"), rejected chunks, the peak contact force after the
latch, the force and the TCP height above the released cap's top at the end.

    python scripts/measure_release.py --policy default --episodes 30 --seed 100 --out /tmp/rel
    python scripts/measure_release.py --expert --episodes 10 --seed 100 --out /tmp/rel_expert
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from fdvla_drivers.environment import apply_defaults

apply_defaults()  # before rclpy or mujoco load


def release_metrics(task, samples: list, success_time_abs: float | None, result) -> dict:
    """samples: (now, force_norm or nan, tcp_z, target_is_none) per cycle."""
    if not samples:
        return {"success": bool(result.success), "fault": result.fault, "force_stop": False}
    arr = np.asarray(samples, dtype=float)
    t, f, z, withheld = arr[:, 0], arr[:, 1], arr[:, 2], arr[:, 3]
    cap_top = float(task.cap_top()[2])
    end = t >= t[-1] - 0.5
    after = t >= success_time_abs if success_time_abs is not None else np.zeros_like(t, bool)
    fault = result.fault
    return {
        "success": bool(result.success),
        "success_time": result.success_time,
        "duration": float(result.duration),
        "fault": fault,
        "force_stop": "force" in fault,
        "chunks_rejected": dict(result.chunks_rejected),
        "peak_force_after_latch": float(np.nanmax(f[after])) if after.any() else None,
        "peak_force": float(np.nanmax(f)),
        "final_force": float(np.nanmean(f[end])),
        "final_height_above_cap": float(np.mean(z[end]) - cap_top),
        "withheld_at_end": bool(withheld[-1] > 0),
    }


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--policy", default="default")
    p.add_argument("--expert", action="store_true", help="the scripted expert instead of a policy")
    p.add_argument("--task", default="button")
    p.add_argument("--episodes", type=int, default=30)
    p.add_argument("--seed", type=int, default=100)
    p.add_argument("--timeout", type=float, default=15.0)
    p.add_argument("--hold", type=float, default=3.0, help="s to keep running after the latch")
    p.add_argument("--latency", type=float, default=0.1)
    p.add_argument("--out", type=Path, required=True)
    a = p.parse_args(argv)

    from fdvla.config import load_setup
    from fdvla.config import controller_settings
    from fdvla_drivers.camera.sim_camera import SimCamera
    from fdvla_drivers.control.controller import SAFETY_STOP_KEYS, ServoController
    from fdvla_drivers.robot.sim_backend import SimRobotBackend
    from fdvla_drivers.sim.experts import make_expert
    from fdvla_drivers.control.rollout import run_episode

    backend = SimRobotBackend(a.task, realtime=False)
    backend.connect()
    # The controller settings and safety limits of the simulated setup, as `fdvla eval` uses.
    setup = load_setup("sim")
    limits = controller_settings(setup.get("controller"), setup.get("safety"), backend.servo_period)
    cams = {}
    if not a.expert:
        from fdvla.evaluation.lockstep import CAMERA_OF, PolicyAgent
        from fdvla_policy_node.inference import (ChunkPipeline, PolicyRunner, PolicySettings,
                                                 load_for_inference, resolve_checkpoint)

        settings = PolicySettings()
        policy, info = load_for_inference(resolve_checkpoint(a.policy), "cpu")
        runner = PolicyRunner(policy, info, noise_scale=settings.noise_scale)
        for name in info.camera_names:
            h, w = info.camera_sizes.get(name, (240, 320))
            cams[name] = SimCamera(backend, CAMERA_OF.get(name, name), width=w, height=h)
            cams[name].start()
    a.out.mkdir(parents=True, exist_ok=True)
    episodes = []
    t_wall = time.time()
    try:
        for k in range(a.episodes):
            backend.reset(seed=a.seed + k)
            if a.expert:
                agent = make_expert(backend.task)
            else:
                agent = PolicyAgent(ChunkPipeline(runner, settings.chunking), cams,
                                    backend.task.instruction, a.latency)
            samples = []
            latch = [None]

            def on_cycle(rec):
                w = rec.state.wrench
                f = float(np.linalg.norm(np.asarray(w)[:3])) if w is not None else np.nan
                samples.append((rec.now, f, rec.state.tcp_pose.position[2], rec.target is None))
                if latch[0] is None and backend.task.success():
                    latch[0] = rec.now

            controller = ServoController(*limits)
            res = run_episode(backend, controller, agent,
                              max_duration=a.timeout, replan_period=0.01, on_cycle=on_cycle,
                              success_hold=a.hold)
            m = release_metrics(backend.task, samples, latch[0], res)
            m["safety_stops"] = {k: v for k, v in controller.rejections.items()
                                 if k in SAFETY_STOP_KEYS}
            m["force_stop"] = m["force_stop"] or bool(m["safety_stops"])
            m.update(episode=k, seed=a.seed + k)
            episodes.append(m)
            print(f"#{k} seed {a.seed + k}: latched={m['success']} fault={m['fault']!r} "
                  f"stops={m['safety_stops']} peak_after={m['peak_force_after_latch']} final_force={m['final_force']:.1f} "
                  f"height={m['final_height_above_cap'] * 1000:.0f} mm", flush=True)
    finally:
        for c in cams.values():
            c.stop()
        backend.close()
    pk = [e["peak_force_after_latch"] for e in episodes if e["peak_force_after_latch"] is not None]
    summary = {
        "policy": "expert" if a.expert else a.policy, "episodes": len(episodes), "seed": a.seed,
        "hold": a.hold, "timeout": a.timeout,
        "latched": sum(e["success"] for e in episodes),
        "force_stops": sum(e["force_stop"] for e in episodes),
        "faults": sum(bool(e["fault"]) for e in episodes),
        "released": sum(e["success"] and not e["fault"] and e["final_height_above_cap"] > 0.005
                        and e["final_force"] < 2.0 for e in episodes),
        "peak_force_after_latch_median": float(np.median(pk)) if pk else None,
        "peak_force_after_latch_max": float(np.max(pk)) if pk else None,
        "wall_s": time.time() - t_wall,
    }
    (a.out / "release.json").write_text(json.dumps({"summary": summary, "episodes": episodes},
                                                   indent=1))
    print(json.dumps(summary, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
