"""The fast style transfer network of Johnson et al. 2016, as in lengstrom/fast-style-transfer
(the architecture of the pretrained ml5 / deeplearn.js checkpoints).

c9s1-32, d64, d128 (3x3 stride 2), five residual blocks of two 3x3 convolutions at 128 channels,
u64, u32 (3x3 transposed convolutions, stride 2), c9s1-3, then 150 * tanh(x) + 127.5. Every
convolution has no bias and is followed by instance normalization (Ulyanov 2016, eps 1e-3) with a
learned scale and shift, then a ReLU, except the second convolution of a residual block and the
last one. Padding is TensorFlow's 'SAME' with zeros, so stride-2 layers pad one more pixel after
than before on even sizes. Input and output are RGB in 0..255.

fast_style_cin is the same network with conditional instance normalization (Dumoulin et al. 2017):
every norm row has a scale and shift per style, (num_styles, C), blended by the weights of
tinyconv.models.style_mix(); the convolutions are shared by all styles, and their row names are
fast_style's, so an ml5 network's convolutions load into it.
"""
from functools import partial

from . import layers as L
from .spec import ArchSpec
from .preprocessing import RAW_255

EPS = 1e-3
RESIDUAL_BLOCKS = 5


def _conv_rows(norm, name, cin, cout, kernel, stride, relu=True, transposed=False,
               inputs=None):
    conv = (L.ConvTranspose2d(name, cin, cout, kernel, stride, bias=False, inputs=inputs)
            if transposed else
            L.Conv2d(name, cin, cout, kernel, stride, "same", bias=False, inputs=inputs))
    rows = [conv, norm(f"{name}/norm", cout)]
    if relu:
        rows.append(L.ReLU(f"{name}/relu"))
    return rows


def conv_order():
    """Names of the convolutions in checkpoint order (each has kernel, shift, scale)."""
    residual = [f"res{b}/conv{i}" for b in range(1, RESIDUAL_BLOCKS + 1) for i in (1, 2)]
    return ["conv1", "conv2", "conv3"] + residual + ["conv_t1", "conv_t2", "conv_t3"]


def fast_style(name="fast_style"):
    """ArchSpec of the transformer network (input and output (N, 3, H, W) RGB 0..255)."""
    return ArchSpec(name, _rows(partial(L.InstanceNorm, eps=EPS)), RAW_255)


def fast_style_cin(name="fast_style_cin", num_styles=2):
    """ArchSpec of the transformer with conditional instance norm over `num_styles` styles."""
    norm = partial(L.ConditionalInstanceNorm, styles=num_styles, eps=EPS)
    return ArchSpec(name, _rows(norm), RAW_255)


def _rows(norm):
    """The transformer's rows with `norm(name, channels)` as every normalization row."""
    rows = (_conv_rows(norm, "conv1", 3, 32, 9, 1) + _conv_rows(norm, "conv2", 32, 64, 3, 2)
            + _conv_rows(norm, "conv3", 64, 128, 3, 2))
    block_input = "conv3/relu"
    for b in range(1, RESIDUAL_BLOCKS + 1):
        rows += _conv_rows(norm, f"res{b}/conv1", 128, 128, 3, 1, inputs=[block_input])
        rows += _conv_rows(norm, f"res{b}/conv2", 128, 128, 3, 1, relu=False)
        rows.append(L.Add(f"res{b}", inputs=[block_input, f"res{b}/conv2/norm"]))
        block_input = f"res{b}"
    rows += (_conv_rows(norm, "conv_t1", 128, 64, 3, 2, transposed=True)
             + _conv_rows(norm, "conv_t2", 64, 32, 3, 2, transposed=True)
             + _conv_rows(norm, "conv_t3", 32, 3, 9, 1, relu=False))
    rows.append(L.ScaledTanh("output", 150.0, 127.5))
    return rows


ARCHITECTURES = {"fast_style": fast_style, "fast_style_cin": fast_style_cin}
