"""What a comparison can change in a scene, and the two small descriptions that make it possible.

A scene whose network is an :class:`MLP` (its sizes, activation, initialization, dropout and batch norm, as
values) can be built again with another ``width``, ``depth``, ``activation``, ``init``, ``dropout`` or
``batchnorm``; a scene whose data is a :class:`Data` (the function that draws it and its arguments) can be
drawn again with another ``noise``. A scene that builds its network or data in its own code cannot: varying
those is refused, in one line, before anything trains. ``l2`` works on every scene.

Each setting is a pair in :data:`~visualizer.run.compare.SETTINGS`: how its text is read (checked as a scene
file's value is) and how it is applied to a scene (one of the functions here).
"""
from __future__ import annotations

import copy
import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from ..base.errors import LayerSettingError, SceneError, VisualizerError

ARCHITECTURE = ("init", "activation", "width", "depth", "dropout", "batchnorm")
SHAPES = ("width", "depth", "dropout", "batchnorm")  # the architecture settings that change a network's drawn shape


@dataclass(frozen=True)
class MLP:
    """A stack of dense layers described by values, so it can be built again with one of them changed.

    ``sizes`` are the inputs, each hidden layer's units and the outputs (``[1, 8, 8, 8, 8, 1]``); every hidden
    layer has ``activation``, the last ``output``. ``init`` names the initialization (see
    :mod:`~visualizer.engine.init`; None: Glorot-uniform, the engine's default). ``dropout`` > 0 puts a
    ``Dropout(p)`` after every hidden layer; ``batchnorm`` puts a ``BatchNorm`` between each hidden layer's
    product and its nonlinearity (Ioffe and Szegedy's place). Layers are named ``hidden1``, …, ``output``
    (``bn1``, ``drop1``, …). Called with a seed it builds the network: weights from
    ``default_rng(seed)``, dropout masks from a generator of their own, so turning dropout on leaves the
    initial weights as they were.
    """

    sizes: tuple[int, ...]
    activation: str = "relu"
    output: str = "identity"
    init: str | None = None
    dropout: float = 0.0
    batchnorm: bool = False

    def __post_init__(self) -> None:
        from ..engine.init import get_init
        from ..engine.layers import get_activation

        sizes = tuple(self.sizes)
        if len(sizes) < 2 or any(isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1
                                 for n in sizes):
            raise LayerSettingError(f"MLP sizes must be at least two whole numbers of units (inputs, …, "
                                    f"outputs), each at least 1, got {self.sizes!r}")
        object.__setattr__(self, "sizes", tuple(int(n) for n in sizes))
        get_activation(self.activation)
        get_activation(self.output)
        if self.init is not None:
            get_init(self.init)
        if isinstance(self.dropout, bool) or not isinstance(self.dropout, (int, float)) \
                or not 0.0 <= self.dropout < 1.0:
            raise LayerSettingError(f"MLP dropout is the probability of dropping a unit and must be in [0, 1), "
                                    f"got {self.dropout!r}")
        if not isinstance(self.batchnorm, bool):
            raise LayerSettingError(f"MLP batchnorm must be True or False, got {self.batchnorm!r}")

    @property
    def hidden(self) -> tuple[int, ...]:
        """The hidden layers' widths."""
        return self.sizes[1:-1]

    def __call__(self, seed: int):
        from ..engine.layers import Dense, Network
        from ..engine.norm import BatchNorm, Dropout

        rng = np.random.default_rng(seed)
        masks = np.random.default_rng([seed, 1])  # dropout's own draws: the weights do not depend on them
        layers: list = []
        for k, (n_in, n_out) in enumerate(zip(self.sizes[:-2], self.hidden), start=1):
            if self.batchnorm:
                layers += [Dense(n_in, n_out, "identity", name=f"hidden{k}", rng=rng, init=self.init),
                           BatchNorm(n_out, self.activation, name=f"bn{k}")]
            else:
                layers.append(Dense(n_in, n_out, self.activation, name=f"hidden{k}", rng=rng, init=self.init))
            if self.dropout:
                layers.append(Dropout(self.dropout, rng=masks, name=f"drop{k}"))
        layers.append(Dense(self.sizes[-2], self.sizes[-1], self.output, name="output", rng=rng, init=self.init))
        return Network(layers)

    def describe(self) -> str:
        """``1-8-8-8-8-1 sigmoid`` with what else is on (``he init``, ``dropout 0.5``, ``batch norm``)."""
        extra = [f"{self.init} init"] if self.init else []
        extra += [f"dropout {self.dropout:g}"] if self.dropout else []
        extra += ["batch norm"] if self.batchnorm else []
        return "-".join(map(str, self.sizes)) + f" {self.activation}" + "".join(f", {e}" for e in extra)


@dataclass(frozen=True)
class Data:
    """A data set described by the function that draws it and its arguments, e.g.
    ``Data(moons, n=150, noise=0.35, seed=3)``; called, it returns ``(x, y)``. A comparison draws it again
    with another ``noise``."""

    make: Callable[..., tuple[np.ndarray, np.ndarray]]
    args: dict[str, Any] = field(default_factory=dict)

    def __init__(self, make: Callable[..., tuple[np.ndarray, np.ndarray]], **args: Any) -> None:
        if not callable(make):
            raise SceneError(f"Data needs the function that draws the data first, got {make!r}")
        object.__setattr__(self, "make", make)
        object.__setattr__(self, "args", dict(args))

    def __call__(self) -> tuple[np.ndarray, np.ndarray]:
        return self.make(**self.args)

    def with_args(self, **changes: Any) -> Data:
        """The same data set drawn with some arguments changed."""
        return Data(self.make, **{**self.args, **changes})


def replaced(scene, **changes):
    """``dataclasses.replace`` for a scene, keeping a held-out test set as it was: the same split when the
    data stay, a new split by the same fraction when new data are drawn (``x``, ``y`` given)."""
    fraction = scene.test_fraction
    if fraction is not None and "test" not in changes:
        if "x" in changes:
            changes.update(test=None, test_fraction=fraction)
        else:
            changes.update(test=scene.test, test_fraction=None)
    new = dataclasses.replace(scene, **changes)
    if new.test_fraction is None and fraction is not None and "test_fraction" not in changes:
        new.test_fraction = fraction  # the split is already made; remembered for a later replace
    return new


def _architecture(scene, name: str, **change: Any):
    """The scene with its :class:`MLP` network changed; a network built in code cannot be."""
    net = scene.network
    if not isinstance(net, MLP):
        raise VisualizerError(f"cannot vary {name} of scene {scene.name!r}: its network is built in its own code; "
                              f"describe it as network=MLP(sizes, activation=..., init=...) to vary "
                              f"{', '.join(ARCHITECTURE)}")
    return replaced(scene, network=dataclasses.replace(net, **change))


def apply_init(scene, value: str):
    return _architecture(scene, "init", init=value)


def apply_activation(scene, value: str):
    return _architecture(scene, "activation", activation=value)


def apply_width(scene, value: int):
    net = scene.network
    sizes = getattr(net, "sizes", (0, 0))
    return _architecture(scene, "width", sizes=(sizes[0], *[value] * (len(sizes) - 2), sizes[-1]))


def apply_depth(scene, value: int):
    net = scene.network
    sizes = getattr(net, "sizes", (0, 0))
    width = max(sizes[1:-1], default=None)
    if isinstance(net, MLP) and width is None:
        raise VisualizerError(f"cannot vary depth of scene {scene.name!r}: its network has no hidden layer "
                              "to repeat; give it one, or vary width")
    return _architecture(scene, "depth", sizes=(sizes[0], *[width] * value, sizes[-1]))


def apply_dropout(scene, value: float):
    return _architecture(scene, "dropout", dropout=value)


def apply_batchnorm(scene, value: str):
    return _architecture(scene, "batchnorm", batchnorm=value == "on")


def apply_l2(scene, value: float):
    """The scene's L2 penalty at strength ``value`` (0: none), its other penalties kept; a new one is on the
    weights in the ``0.5·λ·ΣW²`` convention."""
    from ..engine.penalties import L2

    others = [p for p in scene.penalty if not isinstance(p, L2)]
    old = next((p for p in scene.penalty if isinstance(p, L2)), None)
    if value == 0:
        new = []
    elif old is None:
        new = [L2(value, half=True)]
    else:
        new = [copy.copy(old)]
        new[0].strength = value
    return replaced(scene, penalty=others + new or None)


def apply_noise(scene, value: float):
    """The scene's data drawn again with ``noise=value`` (and split again by its test fraction)."""
    data = scene.data
    if not isinstance(data, Data) or "noise" not in data.args:
        raise VisualizerError(f"cannot vary noise of scene {scene.name!r}: its data are given as arrays; describe "
                              "them as data=Data(moons, n=..., noise=..., seed=...) to vary noise")
    return replaced(scene, x=None, y=None, data=data.with_args(noise=value))


# ---- reading a setting's text, checked as a scene file's value is ----

def _number(name: str, kind: type, low: float, high: float | None = None, high_open: bool = False):
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise VisualizerError(f"vary {name}: {text!r} is not a {'whole ' if kind is int else ''}number") \
                from None
        if isinstance(value, float) and not math.isfinite(value) or value < low \
                or high is not None and (value >= high if high_open else value > high):
            bound = f"in [{low:g}, {high:g}{')' if high_open else ']'}" if high is not None else f"at least {low:g}"
            raise VisualizerError(f"vary {name}: {text} is out of range; it must be {bound}")
        return value
    return parse


def parse_init(text: str) -> str:
    from ..engine.init import get_init

    return get_init(text).spec  # an unknown name is one line, listing the known ones


def parse_activation(text: str) -> str:
    from ..engine.layers import get_activation

    return get_activation(text.strip()).name


def parse_switch(text: str) -> str:
    """``on``/``off`` (also true/false, yes/no, 1/0)."""
    word = text.strip().lower()
    if word in ("on", "true", "yes", "1"):
        return "on"
    if word in ("off", "false", "no", "0"):
        return "off"
    raise VisualizerError(f"vary batchnorm: {text!r} is not on or off")


# name -> (read the text, apply to a scene), for SETTINGS
VARIATIONS: dict[str, tuple[Callable[[str], Any], Callable]] = {
    "init": (parse_init, apply_init),
    "activation": (parse_activation, apply_activation),
    "width": (_number("width", int, 1, 4096), apply_width),
    "depth": (_number("depth", int, 1, 64), apply_depth),
    "dropout": (_number("dropout", float, 0.0, 1.0, high_open=True), apply_dropout),
    "l2": (_number("l2", float, 0.0), apply_l2),
    "batchnorm": (parse_switch, apply_batchnorm),
    "noise": (_number("noise", float, 0.0), apply_noise),
}


__all__ = ["ARCHITECTURE", "Data", "MLP", "SHAPES", "VARIATIONS", "replaced"]
