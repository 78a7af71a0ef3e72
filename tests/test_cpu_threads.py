"""After tinyconv.tune_process(), idle OpenBLAS worker threads sleep at once after a GEMM instead of
spinning over numpy's work."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import tinyconv

IDLE_CPU_AFTER_GEMM = """
import json, resource, time, numpy as np
import tinyconv
from tinyconv.kernels.cpu import threads as cpu_threads
from tinyconv.kernels.cpu import blas as blas_cpu
tinyconv.tune_process()
a = np.ones((1024, 1024), np.float32)
blas_cpu.gemm(a, a)                     # starts the BLAS workers
blas_cpu.gemm(a, a)
before = resource.getrusage(resource.RUSAGE_SELF)
time.sleep(0.3)                         # nothing to do: a spinning worker still burns CPU
after = resource.getrusage(resource.RUSAGE_SELF)
idle_cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
print(json.dumps({"timeouts": cpu_threads.idle_timeouts(), "idle_cpu_s": idle_cpu}))
"""


def _run(extra_env):
    package_parent = str(Path(tinyconv.__file__).resolve().parent.parent)
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_THREAD_TIMEOUT"}
    env.update(PYTHONPATH=package_parent, **extra_env)
    out = subprocess.run([sys.executable, "-c", IDLE_CPU_AFTER_GEMM], check=True,
                         capture_output=True, text=True, env=env).stdout
    return json.loads(out)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/maps (Linux)")
@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="one core: OpenBLAS starts no workers")
def test_blas_workers_sleep_when_idle_unless_the_user_set_the_timeout():
    ours = _run({})
    if not ours["timeouts"]:
        pytest.skip("scipy's BLAS here is not OpenBLAS")
    assert set(ours["timeouts"].values()) == {4}
    users = _run({"OPENBLAS_THREAD_TIMEOUT": "28"})  # OpenBLAS's default, set by the user
    assert set(users["timeouts"].values()) == {28}
    # 2^28 cycles of spinning is ~0.1 s of wall time after the last GEMM, of which a spinning
    # worker gets all on a quiet machine and a share on a busy one; a sleeping worker uses none
    assert ours["idle_cpu_s"] < 0.02
    assert users["idle_cpu_s"] > max(0.02, 3 * ours["idle_cpu_s"])
