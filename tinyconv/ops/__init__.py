"""tinyconv.ops: the functional interface to every differentiable operation.

Tensors in, Tensor out; activations are (N, C, H, W), convolution weights (out, in, kH, kW), the
layouts of the common frameworks, so converted weights work unchanged. Each op is a Function in
one of the modules below (grep for its class); this package gathers the public names and gives
Tensor its operators (x + y, x[i], x.sum(): engine.tensor.use_operators).
"""
from .activation import dropout, leaky_relu, log_softmax, relu, relu6, sigmoid, softmax, tanh
from .conv import conv2d, conv_transpose2d
from ..kernels.algorithms import algorithm as conv_algorithm, set_algorithm as set_conv_algorithm
from .linear import linear
from .loss import cross_entropy, gram_matrix, mse, total_variation
from .math import abs, add, clip, div, exp, log, matmul, max, mean, mul, neg, pow, sqrt, sub, sum
from .norm import (adain, batch_norm, channel_mean_std, conditional_instance_norm,
                   instance_norm, local_response_norm)
from .pool import adaptive_avg_pool2d, avg_pool2d, max_pool2d
from .resize import upsample_nearest
from .shape import concat, flatten, getitem, pad, pad2d, reshape, transpose

from . import math as _math, shape as _shape
from ..engine.tensor import use_operators

use_operators(_math, _shape)  # x + y, x[i], x.sum(), ... on every Tensor
