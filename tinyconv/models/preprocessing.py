"""What a network expects its input pixels to look like, and the two conversions that use it.

Weights trained in different frameworks expect different pixels for the same picture: torchvision
wants RGB in 0..1 normalized by ImageNet mean and std; Caffe and Keras VGG want BGR in 0..255 minus
a per-channel mean; the ml5 fast-style networks want RGB in 0..255 unchanged. A Preprocessing value
records that (it travels inside every tinyconv weight file), and `preprocess` / `deprocess` turn
uint8 RGB images into the network's input and back.

mean and std are in the network's channel order and value scale, as their authors publish them.
"""
import math
from dataclasses import asdict, dataclass, field

import numpy as np

from ..engine import backend
from ..image import center_crop, resize_short_side
from ..engine.tensor import Tensor

SCALE_RANGE = (1e-3, 1e5)   # the value of a white pixel: 1.0 or 255.0 in practice
MEAN_RANGE = (-1e5, 1e5)
STD_RANGE = (1e-5, 1e5)     # 1e-300 would turn a pixel into 1e300: infinite in float32
MAX_SIDE = 8192             # input_size and resize_size: a network input side, in pixels


@dataclass(frozen=True)
class Preprocessing:
    colour_order: str = "RGB"     # channel order of the network's input: "RGB" or "BGR"
    scale: float = 1.0            # value of a white pixel before normalization: 1.0 or 255.0
    mean: tuple = (0.0, 0.0, 0.0)  # subtracted per channel (network's channel order and scale)
    std: tuple = (1.0, 1.0, 1.0)   # then divided by, per channel
    input_size: tuple = None      # (H, W) the network was trained on; None: any size
    resize_size: int = None       # short side before the centre crop to input_size (e.g. 256)
    notes: str = field(default="", compare=False)

    def __post_init__(self):
        if self.colour_order not in ("RGB", "BGR"):
            raise ValueError(f"colour_order must be 'RGB' or 'BGR', got {self.colour_order!r}")
        for key in ("mean", "std"):
            value = tuple(float(v) for v in getattr(self, key))
            if len(value) != 3:
                raise ValueError(f"preprocessing {key} needs 3 values, got {value}")
            object.__setattr__(self, key, value)
        object.__setattr__(self, "scale", float(self.scale))
        if self.input_size is not None:
            object.__setattr__(self, "input_size", tuple(int(v) for v in self.input_size))
        self._check_ranges()

    def _check_ranges(self):
        """Refuse values that make every input NaN, infinite or absurd (weight files carry
        these, so they are input): finite numbers, scale and std positive and within a factor
        of 10^5 of the ones in use (1 and 255; std 0.225 or 58 at those scales), sides that a
        picture can have."""
        checks = (("scale", (self.scale,), SCALE_RANGE), ("mean", self.mean, MEAN_RANGE),
                  ("std", self.std, STD_RANGE))
        for key, values, (low, high) in checks:
            if not all(math.isfinite(v) and low <= v <= high for v in values):
                raise ValueError(f"preprocessing {key} must be finite and between {low:g} and "
                                 f"{high:g}, got {values if len(values) > 1 else values[0]}")
        if self.input_size is not None and (
                len(self.input_size) != 2 or not all(0 < v <= MAX_SIDE for v in self.input_size)):
            raise ValueError(f"preprocessing input_size must be (H, W), each 1..{MAX_SIDE}, got "
                             f"{self.input_size}")
        if self.resize_size is not None and not (
                max(self.input_size or (1,)) <= self.resize_size <= MAX_SIDE):
            raise ValueError(f"preprocessing resize_size must be between the input size's "
                             f"longer side and {MAX_SIDE}, got {self.resize_size}")

    def to_dict(self):
        return asdict(self)

    @classmethod
    def from_dict(cls, values):
        known = {k: v for k, v in values.items() if k in cls.__dataclass_fields__}
        return cls(**known)

    def input_range(self):
        """(low, high): float64 arrays (3,) of the values black (0) and white (255) pixels take
        in the network's input, per input channel (the valid range for clamping a synthesized
        image)."""
        mean, std = np.asarray(self.mean), np.asarray(self.std)
        return -mean / std, (self.scale - mean) / std

    def pixel_size(self):
        """float64 (3,): one 0..255 pixel step in the network's input units, per input channel."""
        return self.scale / 255.0 / np.asarray(self.std)

    def prepare_image(self, image, resize=True):
        """uint8 (H, W, 3) RGB -> the same picture at the network's input geometry (uint8).

        resize=True with an input_size: short side to resize_size (or the input size), then a
        centre crop to input_size. Otherwise the image is returned unchanged.
        """
        if not resize or self.input_size is None:
            return image
        short = self.resize_size or min(self.input_size)
        if image.shape[:2] != self.input_size:
            image = center_crop(resize_short_side(image, short), self.input_size)
        return image

    def to_input(self, images, device=None, dtype="float32"):
        """uint8 (N, H, W, 3) RGB array (or floats in 0..255) -> (N, 3, H, W) network input array
        on `device`."""
        xp = backend.xp_for(device)
        x = xp.asarray(np.ascontiguousarray(images.transpose(0, 3, 1, 2)), dtype=dtype)
        if self.colour_order == "BGR":
            x = x[:, ::-1]
        mean = xp.asarray(self.mean, dtype=dtype).reshape(1, 3, 1, 1)
        std = xp.asarray(self.std, dtype=dtype).reshape(1, 3, 1, 1)
        return (x * (self.scale / 255.0) - mean) / std

    def to_rgb(self, x):
        """(N, 3, H, W) network input array (numpy or CuPy) -> float64 (N, 3, H, W) RGB numpy in
        0..255 units, neither rounded nor clipped (to measure changes in pixel units)."""
        x = backend.to_numpy(x).astype(np.float64)
        x = x * np.reshape(self.std, (1, 3, 1, 1)) + np.reshape(self.mean, (1, 3, 1, 1))
        if self.colour_order == "BGR":
            x = x[:, ::-1]
        return x * (255.0 / self.scale)

    def to_images(self, x):
        """(N, 3, H, W) network input array (numpy or CuPy) -> uint8 (N, H, W, 3) RGB numpy."""
        return np.clip(np.rint(self.to_rgb(x)), 0, 255).astype(np.uint8).transpose(0, 2, 3, 1)


def preprocess(preprocessing, images, device=None, dtype="float32", resize=True):
    """uint8 RGB image(s) -> (N, 3, H, W) input Tensor on `device` (see Model.preprocess)."""
    if isinstance(images, np.ndarray) and images.ndim == 3:
        images = [images]
    prepared = []
    for i, image in enumerate(images):
        image = np.asarray(image)
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ValueError(f"image {i}: expected uint8 (H, W, 3) RGB, got {image.dtype} "
                             f"{image.shape} (tinyconv.image.load_image gives that)")
        prepared.append(preprocessing.prepare_image(image, resize))
    sizes = {im.shape for im in prepared}
    if len(sizes) > 1:
        raise ValueError(f"images of different sizes {sorted(sizes)} cannot form one batch; "
                         f"resize them to one size first")
    return Tensor(preprocessing.to_input(np.stack(prepared), device, dtype))


def deprocess(preprocessing, x):
    """Network input (N, 3, H, W) or (3, H, W), Tensor or array -> uint8 RGB (N, H, W, 3) or
    (H, W, 3)."""
    data = x.data if isinstance(x, Tensor) else x
    if data.ndim == 3:
        return preprocessing.to_images(data[None])[0]
    if data.ndim != 4 or data.shape[1] != 3:
        raise ValueError(f"deprocess expects (N, 3, H, W) or (3, H, W), got {tuple(data.shape)}")
    return preprocessing.to_images(data)


TORCHVISION = Preprocessing("RGB", 1.0, (0.485, 0.456, 0.406), (0.229, 0.224, 0.225),
                            (224, 224), 256, notes="torchvision ImageNet models")
CAFFE_VGG = Preprocessing("BGR", 255.0, (103.939, 116.779, 123.68), (1.0, 1.0, 1.0),
                          (224, 224), 256, notes="Caffe / Keras VGG ('caffe' mode)")
RAW_255 = Preprocessing("RGB", 255.0, notes="RGB 0..255, no normalization (ml5 fast style)")
# per-channel mean and std of the 50,000 CIFAR-10 training images' pixels (the published figures;
# the JPEG copies in the shared assets give the same within 0.003)
CIFAR10 = Preprocessing("RGB", 1.0, (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616),
                        (32, 32), None, notes="CIFAR-10 32x32, the training set's mean and std")
