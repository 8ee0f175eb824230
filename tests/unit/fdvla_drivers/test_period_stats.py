"""Issue 6 item 9: the servo period statistics read while the servo thread writes them."""

import sys
import threading

from fdvla_drivers.control.servo_loop import PeriodStats


def test_summary_is_consistent_while_another_thread_marks():
    stats = PeriodStats(0.002, capacity=64)
    stop = threading.Event()
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)

    def writer():
        t = 0.0
        while not stop.is_set():
            t += 0.002
            stats.mark(t)

    th = threading.Thread(target=writer, daemon=True)
    th.start()
    bad = []
    try:
        for _ in range(20000):
            s = stats.summary()
            if s["cycles"] >= 3 and (abs(s["rate_hz"] - 500.0) > 1e-3 or s["max_err_ms"] > 1e-6):
                bad.append(s)
    finally:
        stop.set()
        th.join()
        sys.setswitchinterval(old)
    assert not bad, f"{len(bad)} inconsistent readings, e.g. {bad[0]}"
