"""Compare tinyconv with PyTorch on the same weights (needs torch; never imported by tinyconv).

torchvision is not installed here, so its VGG, AlexNet and SqueezeNet are restated below in
torch.nn with torchvision's module layout (and so its state_dict keys). Run:

    python tools/torch_reference.py shapes            # every layer's output shape at 224x224
    python tools/torch_reference.py compare W.pth IMG  # logits of torch vs tinyconv, one image
"""
import sys

import numpy as np
import torch
from torch import nn

VGG_CFG = {"vgg11": [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
           "vgg16": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512,
                     512, 512, "M"]}


class VGG(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        layers, cin = [], 3
        for v in cfg:
            if v == "M":
                layers.append(nn.MaxPool2d(2, 2))
            else:
                layers += [nn.Conv2d(cin, v, 3, padding=1), nn.ReLU(True)]
                cin = v
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d((7, 7))
        self.classifier = nn.Sequential(
            nn.Linear(512 * 7 * 7, 4096), nn.ReLU(True), nn.Dropout(),
            nn.Linear(4096, 4096), nn.ReLU(True), nn.Dropout(), nn.Linear(4096, 1000))

    def forward(self, x):
        return self.classifier(torch.flatten(self.avgpool(self.features(x)), 1))


class AlexNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 64, 11, 4, 2), nn.ReLU(True), nn.MaxPool2d(3, 2),
            nn.Conv2d(64, 192, 5, padding=2), nn.ReLU(True), nn.MaxPool2d(3, 2),
            nn.Conv2d(192, 384, 3, padding=1), nn.ReLU(True),
            nn.Conv2d(384, 256, 3, padding=1), nn.ReLU(True),
            nn.Conv2d(256, 256, 3, padding=1), nn.ReLU(True), nn.MaxPool2d(3, 2))
        self.avgpool = nn.AdaptiveAvgPool2d((6, 6))
        self.classifier = nn.Sequential(
            nn.Dropout(), nn.Linear(256 * 6 * 6, 4096), nn.ReLU(True),
            nn.Dropout(), nn.Linear(4096, 4096), nn.ReLU(True), nn.Linear(4096, 1000))

    def forward(self, x):
        return self.classifier(torch.flatten(self.avgpool(self.features(x)), 1))


class Fire(nn.Module):
    def __init__(self, cin, squeeze, e1, e3):
        super().__init__()
        self.squeeze = nn.Conv2d(cin, squeeze, 1)
        self.squeeze_activation = nn.ReLU(True)
        self.expand1x1 = nn.Conv2d(squeeze, e1, 1)
        self.expand1x1_activation = nn.ReLU(True)
        self.expand3x3 = nn.Conv2d(squeeze, e3, 3, padding=1)
        self.expand3x3_activation = nn.ReLU(True)

    def forward(self, x):
        x = self.squeeze_activation(self.squeeze(x))
        return torch.cat([self.expand1x1_activation(self.expand1x1(x)),
                          self.expand3x3_activation(self.expand3x3(x))], 1)


class SqueezeNet11(nn.Module):
    def __init__(self):
        super().__init__()
        pool = lambda: nn.MaxPool2d(3, 2, ceil_mode=True)  # noqa: E731
        self.features = nn.Sequential(
            nn.Conv2d(3, 64, 3, 2), nn.ReLU(True), pool(),
            Fire(64, 16, 64, 64), Fire(128, 16, 64, 64), pool(),
            Fire(128, 32, 128, 128), Fire(256, 32, 128, 128), pool(),
            Fire(256, 48, 192, 192), Fire(384, 48, 192, 192),
            Fire(384, 64, 256, 256), Fire(512, 64, 256, 256))
        self.classifier = nn.Sequential(nn.Dropout(0.5), nn.Conv2d(512, 1000, 1), nn.ReLU(True),
                                        nn.AdaptiveAvgPool2d((1, 1)))

    def forward(self, x):
        return torch.flatten(self.classifier(self.features(x)), 1)


def shapes(net, size=224):
    """Output shapes of every leaf module of a torchvision-layout net, in order."""
    out = []
    hooks = [m.register_forward_hook(lambda m, i, o: out.append(tuple(o.shape)))
             for m in net.modules() if not list(m.children()) or isinstance(m, Fire)]
    with torch.no_grad():
        net.eval()(torch.zeros(1, 3, size, size))
    for h in hooks:
        h.remove()
    return out


def compare(pth, image_path):
    from tinyconv import load_model
    from tinyconv.image import load_image
    model = load_model("squeezenet1_1", weights=pth)
    x = model.preprocess(load_image(image_path))
    net = SqueezeNet11().eval()
    net.load_state_dict(torch.load(pth, weights_only=True))
    with torch.no_grad():
        ref = net(torch.from_numpy(x.numpy())).numpy()
    ours = model(x).numpy()
    print("max |torch - tinyconv| =", float(np.abs(ref - ours).max()),
          "of max |logit|", float(np.abs(ref).max()), "; top-5 torch", np.argsort(-ref[0])[:5],
          "tinyconv", np.argsort(-ours[0])[:5])


if __name__ == "__main__":
    if sys.argv[1] == "shapes":
        for name, net in [("vgg16", VGG(VGG_CFG["vgg16"])), ("alexnet", AlexNet()),
                          ("squeezenet1_1", SqueezeNet11())]:
            print(name, shapes(net))
    else:
        compare(sys.argv[2], sys.argv[3])
