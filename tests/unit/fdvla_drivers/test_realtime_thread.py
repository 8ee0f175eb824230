"""fifo_this_thread: SCHED_FIFO for the calling thread only (the servo loop's and the policy's
inference thread's), or the reason it is not permitted."""

import os
import threading

from fdvla_drivers.environment import fifo_this_thread


def _in_thread(priority):
    out = {}

    def run():
        out["refused"] = fifo_this_thread(priority)
        out["policy"] = os.sched_getscheduler(0)  # this thread's

    t = threading.Thread(target=run)
    t.start()
    t.join()
    return out


def test_only_the_calling_thread_gets_fifo_or_the_reason_is_given():
    before = os.sched_getscheduler(0)
    out = _in_thread(5)
    if out["refused"] is None:
        assert out["policy"] == os.SCHED_FIFO
    else:
        assert "not permitted" in out["refused"] and out["policy"] == before
    assert os.sched_getscheduler(0) == before  # the caller's thread (and the process) untouched


def test_priority_zero_asks_for_nothing():
    out = _in_thread(0)
    assert out["refused"] is None and out["policy"] == os.sched_getscheduler(0)
