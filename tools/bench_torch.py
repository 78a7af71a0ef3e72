"""The PyTorch side of tinyconv's benchmark: one case per process, the same protocol as tinyconv.

Run by `tinyconv bench --compare torch` (or tools/bench.py --compare torch) as
`python tools/bench_torch.py --child JSON --memory-format nchw|channels_last`, which then
answers the parent's commands (tinyconv.bench.run.serve). The networks are torchvision's layouts
from tools/torch_reference.py, built on the meta device and materialised only up to the case's
last layer, so memory counts only what runs.
"""
import json
import math
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # tinyconv from this checkout
# PyTorch runs with glibc's malloc and OpenBLAS as its users have them: this process imports
# tinyconv for the shared measuring code and never calls tinyconv.tune_process()

import torch  # noqa: E402
from torch import nn  # noqa: E402

from tinyconv.bench.run import CLASS_INDEX, Case, current_rss_mb, serve  # noqa: E402
from torch_reference import VGG, VGG_CFG, AlexNet  # noqa: E402

VGG19_CFG = [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M",
             512, 512, 512, 512, "M"]
RELU5_1_OF_VGG19 = 30  # modules of vgg19.features up to and including relu5_1


def torch_device(device):
    """PyTorch's name of a tinyconv device ("cpu" | "gpu")."""
    return {"cpu": "cpu", "gpu": "cuda"}[device]


def set_tf32(enabled):
    """TF32 tensor cores for float32 convolutions and GEMMs on or off (cuDNN's default is on)."""
    torch.backends.cuda.matmul.allow_tf32 = enabled
    torch.backends.cudnn.allow_tf32 = enabled


def build(case, case_device="cpu"):
    """The case's network (eval mode, frozen He-normal weights), cut where tinyconv cuts it."""
    with torch.device("meta"):
        if case.model == "vgg16":
            net = VGG(VGG_CFG["vgg16"])
        elif case.model == "vgg19" and case.last_layer == "relu5_1":
            net = VGG(VGG19_CFG).features[:RELU5_1_OF_VGG19]
        elif case.model == "alexnet":
            net = AlexNet()
        else:
            raise ValueError(f"no PyTorch network for case {case.name}")
    net = net.to_empty(device=torch_device(case_device)).eval()
    with torch.no_grad():
        for module in net.modules():
            if isinstance(module, (nn.Conv2d, nn.Linear)):
                fan_in = module.weight[0].numel()
                module.weight.normal_(0, math.sqrt(2 / fan_in))
                module.bias.zero_()
    net.requires_grad_(False)
    return net


def make_step(net, case, x):
    if case.mode == "forward":
        def step():
            with torch.no_grad():
                net(x)
        return step

    def step():
        x.grad = None
        out = net(x)
        objective = out[:, CLASS_INDEX].sum() if case.last_layer is None else out.sum()
        objective.backward()
        return x.grad
    return step


def serve_case(case, memory_format, device="cpu", tf32=False):
    baseline = current_rss_mb()
    net = build(case, device)
    x = torch.randn(case.batch, 3, case.size, case.size, generator=torch.Generator().manual_seed(0))
    x = x.to(torch_device(device))
    if memory_format == "channels_last":
        net = net.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    if case.mode == "forward_backward":
        x.requires_grad_(True)
    if device == "gpu":
        set_tf32(tf32)
        torch.backends.cudnn.benchmark = True  # cuDNN's own autotuner, as users run it
        version = (f"torch {torch.__version__}, cuDNN {torch.backends.cudnn.version()}, "
                   f"{torch.cuda.get_device_name()}, {memory_format}, "
                   f"TF32 {'on' if tf32 else 'off'}")
        serve(make_step(net, case, x), baseline, torch.cuda.synchronize, gpu_peak_mb,
              {"version": version}, reset_peak=reset_gpu_peak)
        return
    version = f"torch {torch.__version__}, {torch.get_num_threads()} threads, {memory_format}"
    serve(make_step(net, case, x), baseline, info={"version": version})


def reset_gpu_peak():
    torch.cuda.synchronize()
    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats()


def gpu_peak_mb():
    """Peak GPU memory reserved by PyTorch's caching allocator since reset_gpu_peak, MiB (the
    same measure as CuPy's memory pool size on tinyconv's side)."""
    return torch.cuda.max_memory_reserved() / 2 ** 20


def main(argv):
    payload = json.loads(argv[argv.index("--child") + 1])
    memory_format = argv[argv.index("--memory-format") + 1]
    if memory_format not in ("nchw", "channels_last"):
        raise SystemExit(f"--memory-format must be nchw or channels_last, got {memory_format}")
    serve_case(Case(**payload["case"]), memory_format, payload["device"],
               payload.get("tf32", False))


if __name__ == "__main__":
    main(sys.argv)
