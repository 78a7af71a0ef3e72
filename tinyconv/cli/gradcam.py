"""`tinyconv gradcam IMAGE`: Grad-CAM (Selvaraju et al. 2017) of a class (or of a channel) at a
convolutional layer, and guided Grad-CAM (guided backprop times the Grad-CAM map)."""
from ..methods.attribution import grad_cam, guided_grad_cam
from ..methods.display import gradient_image
from ..methods.grids import apply_colormap, overlay
from ..models import defaults_help
from .common import (add_image_arg, add_model_args, add_output_args, add_parser, image_name,
                     image_stem, load_input, load_model_from_args, panel, save_array, save_picture)
from .targets import add_target_args, describe, resolve_target, target_tag

EXAMPLE = """examples:
  tinyconv gradcam --weights squeezenet1_1.h5 --class 243 cat_dog.png
  tinyconv gradcam --weights squeezenet1_1.h5 --class "tiger cat" --layer fire7 cat_dog.png
  tinyconv gradcam --weights vgg19_blocks1-3.h5 --layer relu3_1 --channel 37 dog.png

Writes IMAGE_gradcam_TARGET.png (the map over the image), ..._guided.png (guided Grad-CAM) and
..._panel.png (image | map | overlay | guided Grad-CAM). --layer defaults to the family's map
layer (ResNet: layer4, MobileNetV2: features.18, DenseNet: relu, GoogLeNet: inception5b), else
the deepest convolutional map (SqueezeNet: fire9). With --channel the target is that channel of
--layer:
its Grad-CAM weights are 1/(h*w) for the channel and 0 for the others, so the map shows where
the channel fires, and guided Grad-CAM is its guided backprop masked by that map. A network
without class scores (such as VGG19 cut after block 3) targets the strongest channel of
--layer on the image unless --channel names one."""


def register(subparsers):
    p = add_parser(subparsers, "gradcam", "Grad-CAM and guided Grad-CAM of a class", __doc__,
                   EXAMPLE)
    add_image_arg(p)
    add_model_args(p)
    add_target_args(p, units=False, layer=False)
    add_output_args(p)
    p.add_argument("--layer", help=f"convolutional layer of the map and of a --channel target "
                                   f"(default: {defaults_help('map')}; otherwise the deepest "
                                   f"spatial map, fire9 for SqueezeNet)")
    p.set_defaults(func=run)


def run(args):
    model = load_model_from_args(args)
    image, x = load_input(model, args)
    # also a --channel's layer
    args.layer = args.layer or model.default_feature_layer()
    layer = model.resolve(args.layer)
    objective = resolve_target(model, args, x, layer_alone=False)
    print(f"target: {describe(model, objective, args, image_name(args))}; Grad-CAM at {layer}")
    cams = grad_cam(model, x, layer, objective)  # (1, H, W)
    guided = guided_grad_cam(model, x, layer, objective, cam=cams)[0]  # (3, H, W)
    cam = cams[0]
    name = f"{image_stem(args)}_gradcam_{target_tag(args, objective)}"
    on_image = overlay(image, cam)
    guided_picture = gradient_image(guided)
    save_picture(args, name, on_image)
    save_picture(args, f"{name}_guided", guided_picture)
    heat = apply_colormap(cam / max(float(cam.max()), 1e-20))
    save_picture(args, f"{name}_panel", panel(image, heat, on_image, guided_picture))
    save_array(args, name, cam)
    save_array(args, f"{name}_guided", guided)
