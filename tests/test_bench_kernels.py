"""`tinyconv bench --kernels`: layer shapes, the report's fields and the plot (on tiny shapes;
the real measurement is not a test)."""
import json

import numpy as np
import pytest
from PIL import Image

from tinyconv.bench import kernels as bench_kernels
from tinyconv.bench.plot import kernel_time_chart, log_ticks
from tinyconv.cli import main
from tinyconv.kernels import algorithms as conv_algorithms

TINY = "1,8,10,10,16,3"  # 3x3 stride 1 padding 1: every CPU algorithm takes it


def test_cli_times_every_algorithm_of_a_given_shape(tmp_path, capsys):
    out, png = tmp_path / "kernels.json", tmp_path / "kernels.png"
    rc = main(["bench", "--kernels", "--device", "cpu", "--models", "none", "--shape", TINY,
               "--repeats", "1", "--gemm-size", "128", "-o", str(out), "--plot", str(png)])
    captured = capsys.readouterr()
    assert rc == 0
    report = json.loads(captured.out)
    assert json.loads(out.read_text()) == report
    assert report["device"] == "cpu" and report["gemm_peak"]["size"] == 128
    peak = report["gemm_peak"]["gflop_per_s"]
    assert peak > 0
    [shape] = report["shapes"]
    assert shape["label"] == f"--shape {TINY}" and shape["out_shape"] == [1, 16, 10, 10]
    assert shape["gflop_per_pass"] == pytest.approx(2 * 16 * 10 * 10 * 8 * 9 / 1e9, abs=1e-4)
    geom = bench_kernels.parse_shape(TINY).geometry()
    names = conv_algorithms.available(np.empty(geom.x_shape, np.float32), geom)
    assert list(shape["algorithms"]) == names and "cpu_winograd4" in names
    assert shape["heuristic"] in names
    for name, passes in shape["algorithms"].items():
        assert set(passes) == set(bench_kernels.PASSES)
        for record in passes.values():
            assert record["ms"] > 0 and len(record["times_ms"]) == 1
            rate = 2 * 16 * 10 * 10 * 8 * 9 / 1e9 / record["ms"] * 1e3
            assert record["gflop_per_s"] == pytest.approx(rate, rel=0.01, abs=0.01)
            assert record["peak_fraction"] == pytest.approx(rate / peak, rel=0.01, abs=1e-3)
        assert f": {name}" in captured.err  # progress names each algorithm
    for step, winner in shape["winner"].items():
        assert shape["algorithms"][winner][step]["ms"] == min(
            passes[step]["ms"] for passes in shape["algorithms"].values())
    chart = kernel_time_chart(report)
    with Image.open(png) as image:
        assert image.mode == "RGB" and image.size == (chart.shape[1], chart.shape[0])
        assert image.width > 3 * 400 and image.height > 150


def test_vgg16_has_nine_distinct_conv_shapes_with_their_layer_names():
    shapes = bench_kernels.model_layer_shapes(["vgg16"])
    assert [s.label() for s in shapes] == [
        "vgg16 conv1_1", "vgg16 conv1_2", "vgg16 conv2_1", "vgg16 conv2_2", "vgg16 conv3_1",
        "vgg16 conv3_2, conv3_3", "vgg16 conv4_1", "vgg16 conv4_2, conv4_3",
        "vgg16 conv5_1, conv5_2, conv5_3"]
    assert shapes[5].x_shape == (1, 256, 56, 56) and shapes[5].w_shape == (256, 256, 3, 3)
    assert (shapes[5].stride, shapes[5].padding) == (1, 1)


def test_shapes_shared_by_models_and_the_command_line_are_timed_once():
    extra = bench_kernels.parse_shape("2,256,56,56,256,3")
    shapes = bench_kernels.collect_shapes(["vgg16", "vgg19"], batch=2, extra=[extra])
    assert len(shapes) == 9
    assert shapes[5].label() == ("vgg16 conv3_2, conv3_3; vgg19 conv3_2, conv3_3, conv3_4; "
                                 "--shape 2,256,56,56,256,3")
    alexnet = bench_kernels.collect_shapes(["alexnet"])
    assert alexnet[0].describe() == "1x3x224x224 * 64x3x11x11 /4 pad 2" and len(alexnet) == 5


@pytest.mark.parametrize("text, problem", [
    ("1,3,8", "got 3 field"), ("1,3,8,8,4,three", "integers"), ("1,3,8,8,0,3", ">= 1"),
    ("1,3,2,2,4,7,1,0", "larger than the padded input")])
def test_bad_shape_says_what_is_wrong(text, problem, capsys):
    with pytest.raises(ValueError, match=problem):
        bench_kernels.parse_shape(text)
    assert main(["bench", "--kernels", "--models", "none", "--shape", text]) == 1
    assert f"--shape {text!r}" in capsys.readouterr().err


def test_kernel_options_need_kernels_and_kernels_needs_shapes(capsys):
    assert main(["bench", "--plot", "x.png"]) == 1
    assert "--plot only apply with --kernels" in capsys.readouterr().err
    assert main(["bench", "--kernels", "--device", "cpu", "--models", "none"]) == 1
    assert "no layer shapes" in capsys.readouterr().err


def test_benchmark_shape_on_each_device(xp):
    device = "cpu" if xp is np else "gpu"
    shape = bench_kernels.parse_shape("1,4,6,6,8,3")
    record = bench_kernels.benchmark_shape(shape, device, repeats=1)
    geom = shape.geometry()
    assert list(record["algorithms"]) == conv_algorithms.available(
        xp.empty(geom.x_shape, xp.float32), geom)
    assert all(r["ms"] > 0 for passes in record["algorithms"].values() for r in passes.values())
    assert bench_kernels.gemm_peak(device, size=64, repeats=1)["gflop_per_s"] > 0


def test_log_ticks_add_twos_and_fives_on_short_axes():
    assert log_ticks(0.07, 1.6) == pytest.approx([0.1, 0.2, 0.5, 1.0])
    assert log_ticks(0.5, 900) == pytest.approx([1.0, 10.0, 100.0])
    assert log_ticks(2.7, 9.1) == pytest.approx([3.0, 5.0, 7.0])
