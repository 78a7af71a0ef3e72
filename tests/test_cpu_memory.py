"""The caching CPU allocator setting (tinyconv.tune_process()): freed large arrays are reused instead
of faulted in anew."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

import tinyconv

FAULTS_OF_REPEATED_ALLOCATION = """
import resource, numpy as np
import tinyconv
from tinyconv.kernels.cpu import memory as cpu_memory
tinyconv.tune_process()
def one_pass():  # a pass's worth of large arrays, allocated, written and freed
    arrays = [np.ones((64, 256, 256), np.float32) for _ in range(4)]
    del arrays
one_pass()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(5):
    one_pass()
print(cpu_memory.applied(), resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def _run(allocator):
    """(applied, page faults of 5 passes) in a fresh process with TINYCONV_CPU_ALLOCATOR set."""
    package_parent = str(Path(tinyconv.__file__).resolve().parent.parent)
    env = {**os.environ, "TINYCONV_CPU_ALLOCATOR": allocator, "PYTHONPATH": package_parent}
    out = subprocess.run([sys.executable, "-c", FAULTS_OF_REPEATED_ALLOCATION], check=True,
                         capture_output=True, text=True, env=env).stdout.split()
    return out[0] == "True", int(out[1])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt is Linux-only")
def test_freed_arrays_are_reused_without_page_faults():
    applied, faults = _run("caching")
    if not applied:
        pytest.skip("this C library has no mallopt (not glibc)")
    system_applied, system_faults = _run("system")
    assert not system_applied
    # 5 passes x 4 arrays of 16 MiB: ~20,000 page faults when each array is mapped anew
    assert system_faults > 5000
    assert faults < system_faults / 20


def test_unknown_allocator_choice_is_named(monkeypatch):
    from tinyconv.kernels.cpu import memory as cpu_memory
    monkeypatch.setenv("TINYCONV_CPU_ALLOCATOR", "jemalloc")
    with pytest.raises(ValueError, match="jemalloc"):
        cpu_memory.apply_default()
