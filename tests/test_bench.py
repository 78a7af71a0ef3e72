"""The benchmark's arithmetic and measuring helpers (the timed runs themselves are not tests)."""
import io
import json

import numpy as np
import pytest

from tinyconv.bench import run as bench


def test_vgg16_flop_count_matches_the_published_figure():
    forward = next(c for c in bench.CASES if c.name == "vgg16_forward_b1")
    backward = next(c for c in bench.CASES if c.name == "vgg16_forward_backward_b1")
    # VGG16 at 224x224 is 15.47 G multiply-adds
    assert bench.case_gflop(forward) == pytest.approx(2 * 15.47, rel=0.01)
    assert bench.case_gflop(backward) == pytest.approx(2 * bench.case_gflop(forward))


def test_summarize_reports_median_and_throughput():
    record = bench.summarize([30.0, 10.0, 20.0], gflop=2.0, peak_mb=5.0)
    assert record["median_ms"] == 20.0 and record["min_ms"] == 10.0
    assert record["gflop_per_s"] == 100.0 and record["peak_mb"] == 5.0


def test_child_protocol_warms_up_times_and_reports_memory(monkeypatch, capsys):
    calls = []
    monkeypatch.setattr("sys.stdin", io.StringIO("warmup\ntime\ntime\nfinish\n"))
    bench.serve(lambda: calls.append(1), baseline_mb=0.0, info={"version": "test"})
    replies = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert replies[0] == {"ready": True, "version": "test"} and len(calls) == 3
    assert [set(r) for r in replies[1:]] == [{"ok"}, {"ms"}, {"ms"}, {"peak_mb"}]


def test_unknown_case_is_named():
    with pytest.raises(ValueError, match="no_such_case"):
        bench.run(["no_such_case"])


def test_torch_comparison_needs_the_runner_of_a_source_checkout():
    """The package never looks for tools/: without torch_runner it says where the comparison runs."""
    with pytest.raises(ValueError, match="python tools/bench.py --compare torch"):
        bench.run(["vgg16_forward_b1"], compare="torch")


def test_unknown_algorithm_choice_is_named():
    with pytest.raises(ValueError, match="no_such_algorithm"):
        bench.run(["vgg16_forward_b1"], algorithms=("no_such_algorithm",))


def test_child_serves_the_chosen_convolution_algorithm(monkeypatch):
    from tinyconv.kernels import algorithms as conv_algorithms
    seen = []
    monkeypatch.setattr(bench, "serve", lambda *a, **k: seen.append(conv_algorithms.current()))
    monkeypatch.setattr(bench, "case_model", lambda case, device: _TinyModel())
    before = conv_algorithms.current()
    try:
        bench.serve_tinyconv_case(bench.CASES[0], "cpu", "cpu_shifted")
    finally:
        conv_algorithms.set_algorithm(before)
    assert seen == ["cpu_shifted"]


class _TinyModel:
    output_name = "fc8"


def test_steal_percent_from_cpu_counters():
    assert bench.steal_percent((10, 1000), (30, 1200)) == 10.0
    assert bench.steal_percent(None, (30, 1200)) is None
    reading = bench.cpu_times()
    assert reading is None or 0 <= reading[0] <= reading[1]


def test_checkouts_must_hold_a_tinyconv_package(tmp_path):
    with pytest.raises(FileNotFoundError, match="no tinyconv package"):
        bench.run(["alexnet_forward_backward_b1"], checkouts=[str(tmp_path)])


def test_checkouts_run_as_sides_of_their_own_with_a_ratio(tmp_path, monkeypatch):
    other = tmp_path / "older"
    (other / "tinyconv").mkdir(parents=True)
    (other / "tinyconv" / "__init__.py").write_text("")
    started = []

    class FakeChild:  # answers the protocol: the other checkout takes twice as long
        def __init__(self, command, package_parent=None):
            started.append(package_parent)
            self.ms = 20.0 if package_parent else 10.0
            self.info = {"version": "fake"}

        def ask(self, command):
            return {"ms": self.ms} if command == "time" else {"ok": True}

        def finish(self):
            return 1.0

    monkeypatch.setattr(bench, "Child", FakeChild)
    monkeypatch.setattr(bench, "SETTLE_SECONDS", 0)
    report = bench.run(["alexnet_forward_backward_b1"], warmup=1, repeats=3,
                       checkouts=[str(other)], log=io.StringIO())
    (record,) = report["cases"]
    assert started == [None, other.resolve()]
    assert report["checkouts"] == {"checkout_1": str(other.resolve())}
    assert record["checkout_1"]["median_ms"] == 20.0
    assert record["checkout_1_time_ratio_vs_tinyconv"] == 2.0


def test_quiet_rounds_give_medians_and_ratios_of_their_own(tmp_path, monkeypatch):
    other = tmp_path / "older"
    (other / "tinyconv").mkdir(parents=True)
    (other / "tinyconv" / "__init__.py").write_text("")

    class FakeChild:  # the other checkout takes twice as long, except in rounds 2 and 3 (stolen)
        def __init__(self, command, package_parent=None):
            self.times = iter([20, 50, 50, 24, 20] if package_parent else [10, 50, 50, 12, 10])
            self.info = {"version": "fake"}

        def ask(self, command):
            return {"ms": next(self.times)} if command == "time" else {"ok": True}

        def finish(self):
            return 1.0

    # cpu_times() readings (steal, total): one before the rounds, then one at the start and end
    # of each round; 60 of the 100 between readings 3 and 4 (round 2) and 5 and 6 were stolen
    readings = iter([(60 * (k >= 4) + 60 * (k >= 6), 100 * k) for k in range(12)])
    monkeypatch.setattr(bench, "cpu_times", lambda: next(readings))
    monkeypatch.setattr(bench, "Child", FakeChild)
    monkeypatch.setattr(bench, "SETTLE_SECONDS", 0)
    log = io.StringIO()
    (record,) = bench.run(["alexnet_forward_backward_b1"], warmup=1, repeats=5,
                          checkouts=[str(other)], log=log)["cases"]
    assert record["round_steal_percent"] == [0.0, 60.0, 60.0, 0.0, 0.0]
    assert record["quiet_rounds"] == 3
    assert (record["tinyconv"]["median_ms"], record["tinyconv"]["quiet_median_ms"]) == (12, 10)
    assert (record["checkout_1"]["median_ms"], record["checkout_1"]["quiet_median_ms"]) == (24, 20)
    assert record["checkout_1_quiet_time_ratio_vs_tinyconv"] == 2.0
    assert "tinyconv 12 ms (quiet 10)" in log.getvalue()
    assert "3 of 5 rounds quiet" in log.getvalue()


def test_training_cases_count_three_passes_and_step_the_model():
    case = next(c for c in bench.CASES if c.name == "resnet_cifar_train_b128")
    assert case.mode == "train" and case.size == 32
    small = bench.Case("tiny_train", "resnet_cifar", None, 4, 32, "train")
    forward = bench.Case("tiny_forward", "resnet_cifar", None, 4, 32, "forward")
    assert bench.case_gflop(small) == pytest.approx(3 * bench.case_gflop(forward))
    assert bench.case_gflop(case) == pytest.approx(32 * bench.case_gflop(small))
    model = bench.case_model(small)
    assert model.training and all(p.requires_grad for p in model.parameters())
    before = model.state_dict()
    x = np.random.default_rng(0).standard_normal((4, 3, 32, 32), dtype=np.float32)
    step = bench._tinyconv_step(model, small, x)
    losses = [step().item() for _ in range(2)]
    assert all(np.isfinite(losses))
    after = model.state_dict()
    assert all(not np.array_equal(before[k], after[k]) for k in before)  # weights and buffers
