from setuptools import find_packages, setup

setup(
    name="tinyconv",
    version="0.1.0",
    description="See inside convolutional networks with numpy (and CuPy): autograd, kernels, "
                "pretrained models and every classic visualization method, no deep-learning framework",
    packages=find_packages(include=["tinyconv", "tinyconv.*"]),
    package_data={"tinyconv": ["data/imagenet_class_index.json", "data/convnetjs_cifar.h5",
                               "data/samples/*.jpg"]},
    python_requires=">=3.9",
    install_requires=["numpy>=1.22", "scipy>=1.8", "pillow>=9", "h5py>=3"],
    extras_require={"gpu": ["cupy-cuda12x>=12"], "test": ["pytest>=7.3", "hypothesis>=6"]},
    entry_points={"console_scripts": ["tinyconv=tinyconv.cli:main"]},
)
