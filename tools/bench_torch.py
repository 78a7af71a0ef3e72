"""The PyTorch side of tinyconv's benchmark: one case per process, the same protocol as tinyconv.

Run by `tinyconv bench --compare torch` (or tools/bench.py --compare torch) as
`python tools/bench_torch.py --child JSON --memory-format nchw|channels_last`, which then
answers the parent's commands (tinyconv.bench.run.serve). The networks are torchvision's layouts
from tools/torch_reference.py, built on the meta device and materialised only up to the case's
last layer, so memory counts only what runs. The other networks (ResNet, MobileNetV2, the
training cases) are built from tinyconv's own table of the architecture (TableNet: the same
rows, shapes and starting weights), so that any network in tinyconv's tables can be timed; a
training case's network is trained as PyTorch users train
(torch.optim.SGD, F.cross_entropy, in-place ReLUs where tinyconv writes in place too).
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

import torch.nn.functional as F  # noqa: E402

from tinyconv.bench.run import (CLASS_INDEX, TRAIN_SGD, Case, case_labels, case_model,  # noqa
                                current_rss_mb, serve)
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
            return build_table(case, case_device)
    net = net.to_empty(device=torch_device(case_device)).eval()
    with torch.no_grad():
        for module in net.modules():
            if isinstance(module, (nn.Conv2d, nn.Linear)):
                fan_in = module.weight[0].numel()
                module.weight.normal_(0, math.sqrt(2 / fan_in))
                module.bias.zero_()
    net.requires_grad_(False)
    return net


class TableNet(nn.Module):
    """A tinyconv Model's table of rows run with PyTorch's functional ops, its parameters and
    buffers copied from the Model; activations are dropped after their last reader, and a ReLU
    overwrites its input under tinyconv's rule (Model._may_overwrite_input)."""

    def __init__(self, model):
        super().__init__()
        self.rows = list(model.layers.values())
        self.state = {key: torch.from_numpy(value.astype("float32"))
                      for key, value in model.state_dict().items()}
        self.buffer_names = {key for key, _ in model.named_buffers()}
        last_use = {}
        for i, row in enumerate(self.rows):
            for source in row.inputs:
                last_use[source] = i
        self.in_place = [row.works_in_place and len(row.inputs) == 1
                         and row.inputs[0] != "input" and last_use[row.inputs[0]] == i
                         and not model.layers[row.inputs[0]].output_read_by_backward
                         for i, row in enumerate(self.rows)]
        self.last_use = last_use

    def trained(self):
        return [t for key, t in self.state.items() if key not in self.buffer_names]

    def forward(self, x):
        acts = {"input": x}
        for i, row in enumerate(self.rows):
            params = {key: self.state[f"{row.name}.{key}"] for key in row.param_shapes()}
            acts[row.name] = run_row(row, params, [acts[s] for s in row.inputs], self.training,
                                     self.in_place[i])
            for source in row.inputs:
                if self.last_use[source] == i:
                    del acts[source]
        return acts[self.rows[-1].name]


def run_row(row, p, xs, training, inplace):
    """One tinyconv row in PyTorch."""
    x = xs[0]
    if row.kind == "conv" and row.padding != "same":
        return F.conv2d(x, p["weight"], p.get("bias"), row.stride, row.padding, row.dilation,
                        row.groups)
    if row.kind == "conv":  # TensorFlow's "same": pad (possibly one more after), then convolve
        top, bottom, left, right = row._pads(*x.shape[2:])
        return F.conv2d(F.pad(x, (left, right, top, bottom)), p["weight"], p.get("bias"),
                        row.stride, 0, row.dilation, row.groups)
    if row.kind == "conv_transpose":  # the full result, cropped to input size * stride
        full = F.conv_transpose2d(x, p["weight"], p.get("bias"), row.stride)
        top, left, h, w = row.crop(*x.shape[2:])
        return full[:, :, top:top + h, left:left + w]
    if row.kind == "instance_norm":
        return F.instance_norm(x, weight=p["weight"], bias=p["bias"], eps=row.eps)
    if row.kind == "scaled_tanh":
        return torch.tanh(x) * row.scale + row.shift
    if row.kind == "batch_norm":
        return F.batch_norm(x, p["running_mean"], p["running_var"], p["weight"], p["bias"],
                            training, row.momentum, row.eps)
    if row.kind == "relu":
        return F.relu(x, inplace=inplace)
    if row.kind == "relu6":
        return F.relu6(x, inplace=inplace)
    if row.kind == "max_pool":
        return F.max_pool2d(x, row.kernel_size, row.stride, row.padding, ceil_mode=row.ceil_mode)
    if row.kind == "linear":
        return F.linear(x.flatten(1), p["weight"], p["bias"])
    if row.kind == "scale":
        return x * row.factor
    if row.kind == "dropout":
        return F.dropout(x, row.p, training)
    if row.kind == "add":
        return sum(xs[1:], xs[0])
    if row.kind == "concat":
        return torch.cat(xs, 1)
    if row.kind == "global_avg_pool":
        return x.mean((2, 3))
    if row.kind == "adaptive_avg_pool":
        return F.adaptive_avg_pool2d(x, row.output_size)
    raise ValueError(f"no PyTorch equivalent of row {row!r} in the benchmark")


def build_table(case, device="cpu"):
    """An inference case's network from tinyconv's table (its rows and random weights), frozen,
    in eval mode: batch norm by its running statistics as its own op after each convolution
    (not folded: PyTorch's eval mode as users run it)."""
    net = TableNet(case_model(case)).eval()
    for key, t in net.state.items():
        net.state[key] = t.to(torch_device(device))
    return net


def build_trained(case, device="cpu"):
    """A training case's network: tinyconv's table and starting weights, in PyTorch."""
    net = TableNet(case_model(case)).train()
    for key, t in net.state.items():
        net.state[key] = t.to(torch_device(device)).requires_grad_(key not in net.buffer_names)
    return net


def make_train_step(net, case, x, num_classes):
    labels = torch.from_numpy(case_labels(case, num_classes)).to(x.device)
    optimizer = torch.optim.SGD(net.trained(), **TRAIN_SGD)

    def step():
        optimizer.zero_grad(set_to_none=True)
        loss = F.cross_entropy(net(x), labels)
        loss.backward()
        optimizer.step()
        return loss
    return step


def make_step(net, case, x):
    if case.mode == "train":
        classifier = next(r for r in reversed(net.rows) if f"{r.name}.weight" in net.state)
        return make_train_step(net, case, x, net.state[f"{classifier.name}.weight"].shape[0])
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
    net = build(case, device) if case.mode != "train" else build_trained(case, device)
    x = torch.randn(case.batch, 3, case.size, case.size, generator=torch.Generator().manual_seed(0))
    x = x.to(torch_device(device))
    if memory_format == "channels_last":
        net = to_channels_last(net)
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


def to_channels_last(net):
    """The network with its 4-D weights in channels_last layout (a TableNet's too)."""
    if isinstance(net, TableNet):
        for key, t in net.state.items():
            if t.ndim == 4:
                net.state[key] = t.detach().contiguous(memory_format=torch.channels_last) \
                    .requires_grad_(t.requires_grad)
        return net
    return net.to(memory_format=torch.channels_last)


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
