"""The decoders of AdaIN style transfer (Huang & Belongie 2017), mirroring a VGG19 encoder.

The encoder is VGG19 up to relu3_1 (what the Keras blocks 1-3 weights hold) or relu4_1. Its
decoder runs the encoder backwards: every 3x3 convolution in reverse order, each after one pixel
of reflection padding and followed by a ReLU except the last, and nearest-neighbour upsampling
by 2 where the encoder max-pools. Input: AdaIN features (N, 256 | 512, H / 4 | H / 8, ...);
output: the picture, RGB in 0..255 (not clamped, which would stop the gradient at the ends). The
Keras VGG19 takes 0..255 pixels, so its features are of that scale too, and He-initialized
decoder weights keep the scale: the untrained decoder's output is already of a picture's scale.
"""
from functools import partial

from . import layers as L
from .preprocessing import RAW_255
from .spec import ArchSpec

# VGG19's convolutions up to relu4_1 in order, (name, in, out); a pool follows conv1_2, conv2_2
# and conv3_4
VGG19_CONVS = (("conv1_1", 3, 64), ("conv1_2", 64, 64), ("conv2_1", 64, 128),
               ("conv2_2", 128, 128), ("conv3_1", 128, 256), ("conv3_2", 256, 256),
               ("conv3_3", 256, 256), ("conv3_4", 256, 256), ("conv4_1", 256, 512))
POOLED = ("conv1_2", "conv2_2", "conv3_4")
ENCODER_LAYERS = ("relu3_1", "relu4_1")


def adain_decoder(name, encoder_layer):
    """ArchSpec of the decoder of VGG19 up to `encoder_layer` (relu3_1 or relu4_1)."""
    last = encoder_layer.replace("relu", "conv")
    convs = VGG19_CONVS[:[c[0] for c in VGG19_CONVS].index(last) + 1]
    rows = []
    for conv, cin, cout in reversed(convs):
        if conv in POOLED:
            rows.append(L.Upsample(f"up_{conv}", 2))
        rows += [L.ReflectionPad(f"dec_{conv}/pad", 1), L.Conv2d(f"dec_{conv}", cout, cin, 3)]
        if conv != "conv1_1":
            rows.append(L.ReLU(f"dec_{conv}/relu"))
    return ArchSpec(name, rows, RAW_255)


ARCHITECTURES = {f"adain_decoder_{layer}": partial(adain_decoder, f"adain_decoder_{layer}", layer)
                 for layer in ENCODER_LAYERS}
