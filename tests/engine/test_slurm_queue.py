"""``queue`` and ``wait`` read squeue's every state: a requeued job between two runs may be in
a state that squeue hides by default (REQUEUED, REQUEUE_HOLD, ...), and ``wait`` must not take it
for a finished job. A fake ``squeue`` on PATH prints what a cluster would."""

import os
import stat
from pathlib import Path

import pytest

from attnzoo.engine.slurm import queue, wait

# What `squeue -t all` lists: ended jobs (kept for MinJobAge) and live ones in hidden states.
LISTING = [
    "1|COMPLETED|debug|None",
    "2|CANCELLED|debug|None",
    "3|REQUEUED|debug|None",
    "4|REQUEUE_HOLD|debug|JobHeldUser",
    "5|PENDING|debug|BeginTime",
    "6|FAILED|debug|NonZeroExitCode",
]


@pytest.fixture
def squeue(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """``squeue(listings)``: put on PATH an ``squeue`` whose k-th call prints ``listings[k]`` (the
    last one from then on), only when asked for all states as the default hides some; returns
    a function that counts the calls made so far."""
    calls = tmp_path / "calls"

    def install(listings: list[list[str]]):
        for k, lines in enumerate(listings):
            (tmp_path / f"listing{k}").write_text("".join(f"{line}\n" for line in lines))
        script = tmp_path / "bin" / "squeue"
        script.parent.mkdir(exist_ok=True)
        script.write_text(
            "#!/bin/sh\n"
            f'echo x >> "{calls}"; k=$(($(wc -l < "{calls}") - 1))\n'
            f"[ $k -lt {len(listings)} ] || k={len(listings) - 1}\n"
            'case " $* " in *" -t all "*) ;; *) exit 0 ;; esac\n'
            f'cat "{tmp_path}/listing$k"\n'
        )
        script.chmod(script.stat().st_mode | stat.S_IEXEC)
        monkeypatch.setenv("PATH", f"{script.parent}{os.pathsep}{os.environ['PATH']}")
        return lambda: len(calls.read_text().split()) if calls.exists() else 0

    return install


def test_queue_keeps_live_states_that_squeue_hides_and_drops_ended_ones(squeue):
    squeue([LISTING])
    jobs = queue()
    assert sorted(jobs) == ["3", "4", "5"]
    assert jobs["4"].state == "REQUEUE_HOLD" and jobs["4"].reason == "JobHeldUser"
    assert sorted(queue(["1", "3", "9"])) == ["3"]


def test_wait_counts_a_requeued_job_as_queued_until_it_has_ended(squeue):
    requeued, running, done = ["7|REQUEUED|debug|None"], ["7|RUNNING|debug|None"], []
    calls = squeue([requeued, requeued, requeued, running, ["7|COMPLETED|debug|None"], done])
    wait(["7"], poll_s=0.01)
    assert calls() == 6  # four polls see it live, then two in a row see it gone
