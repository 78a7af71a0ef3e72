"""ArchSpec: what an architecture function returns, before any weights exist."""
from dataclasses import dataclass, field


@dataclass
class ArchSpec:
    name: str
    rows: list                  # Layer rows in computation order
    preprocessing: object       # the Preprocessing its usual weights expect
    aliases: dict = field(default_factory=dict)      # short name -> row name
    torch_names: dict = field(default_factory=dict)  # row name -> torchvision module name
    # prefixes of torchvision state_dict keys that inference does not use (GoogLeNet's
    # auxiliary classifiers): conversion accepts and drops them
    torch_ignored: tuple = ()
    # the layers the methods default to, by role (Model.default_layer): "map" (Grad-CAM,
    # channel targets), "vector" (one feature vector per image), "dream" (DeepDream)
    defaults: dict = field(default_factory=dict)
