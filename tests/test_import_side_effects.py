"""`import tinyconv` and running its CPU kernels leave the process as it was; tune_process() is the
one call that changes malloc and the BLAS thread pools, and calling it twice is the same as once."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import tinyconv

THREADS = Path(tinyconv.__file__).resolve().parent / "kernels" / "cpu" / "threads.py"

IMPORT_THEN_TUNE = """
import importlib.util, json, sys
import numpy as np
import scipy.linalg.blas  # scipy's OpenBLAS, loaded before tinyconv
spec = importlib.util.spec_from_file_location("threads_alone", sys.argv[1])
threads = importlib.util.module_from_spec(spec)
spec.loader.exec_module(threads)  # reads the pools without importing tinyconv
before = threads.idle_timeouts()
import tinyconv
from tinyconv.kernels.cpu import memory
x = tinyconv.Tensor(np.ones((1, 3, 16, 16), np.float32), requires_grad=True)
w = tinyconv.Tensor(np.ones((4, 3, 3, 3), np.float32))
tinyconv.ops.conv2d(x, w, padding=1).sum().backward()
tinyconv.ops.matmul(tinyconv.Tensor(np.ones((64, 64), np.float32)),
                    tinyconv.Tensor(np.ones((64, 64), np.float32)))
kernels_used = "tinyconv.kernels.cpu.blas" in sys.modules
after, malloc_after = threads.idle_timeouts(), memory.applied()
first = tinyconv.tune_process()
second = tinyconv.tune_process()
print(json.dumps({"before": before, "after": after, "malloc_after": malloc_after,
                  "kernels_used": kernels_used, "tuned": threads.idle_timeouts(),
                  "malloc_tuned": memory.applied(), "first": first, "second": second}))
"""


def _run():
    package_parent = str(THREADS.parents[3])
    env = {k: v for k, v in os.environ.items()
           if k not in ("OPENBLAS_THREAD_TIMEOUT", "TINYCONV_CPU_ALLOCATOR")}
    env.update(PYTHONPATH=package_parent, TINYCONV_DEVICE="cpu")
    out = subprocess.run([sys.executable, "-c", IMPORT_THEN_TUNE, str(THREADS)], check=True,
                         capture_output=True, text=True, env=env).stdout
    return json.loads(out)


def test_import_and_cpu_kernels_leave_malloc_and_blas_pools_alone():
    result = _run()
    assert result["kernels_used"]  # the BLAS module was imported and used
    assert result["after"] == result["before"]
    assert result["malloc_after"] is False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="mallopt and /proc are Linux's")
def test_tune_process_changes_both_once():
    result = _run()
    if result["first"]["malloc"]:
        assert result["malloc_tuned"] is True
    if result["tuned"]:  # an OpenBLAS is loaded
        assert set(result["tuned"].values()) == {4}
        assert result["first"]["openblas"]
    assert result["second"]["openblas"] == []  # nothing left to change


def test_tinyconv_command_tunes_its_process(monkeypatch):
    from tinyconv import cli
    calls = []
    monkeypatch.setattr(cli, "tune_process", lambda: calls.append(1))
    assert cli.main(["layers", "--model", "alexnet"]) == 0
    assert calls == [1]
