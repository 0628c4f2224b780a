"""The scene contract, and loading a scene file by path or by bare name with importlib.

A scene file is a plain module that exposes ``scene``: a :class:`Scene`, or a function returning one.
Importing it must be cheap; the network is built by ``scene.network(seed)`` only when training starts.
"""
from __future__ import annotations

import importlib.util
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from ..base.errors import SceneError
from ..base.files import NotAFile, read_regular

if TYPE_CHECKING:
    import numpy as np

    from ..engine.losses import Loss
    from ..engine.layers import Network
    from ..engine.optim import Optimizer
    from ..draw.panels import Layout
    from ..engine.penalties import Penalty
    from ..engine.training import Sampler
    from .variations import Data


def _default_optimizer():
    from ..engine.optim import SGD

    return SGD(0.1)

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def bundled_scenes() -> Path:
    """The scenes that come with the tool: ``visualizer/scenes`` in an installed wheel (the build maps the
    repository's ``scenes/`` there), else the repository's ``scenes/`` beside the package (a source checkout
    or an editable install)."""
    package = Path(__file__).resolve().parent.parent  # visualizer/, above this run/ folder
    installed = package / "scenes"
    return installed if installed.is_dir() else package.parent / "scenes"



@dataclass
class Scene:
    """Everything needed to train a network and draw it: data, network, loss, optimizer, steps, layout.

    ``loss`` is a name (``mse``, ``softmax_ce``, ...; see :func:`~visualizer.engine.losses.get_loss`) or a
    :class:`~visualizer.engine.losses.Loss`; ``optimizer`` an :class:`~visualizer.engine.optim.Optimizer` or a spec such as
    ``"adam:lr=0.01"`` (see :func:`~visualizer.engine.optim.get_optimizer`). ``penalty`` (an ``L1``/``L2`` or a list
    of them) is added to the data loss to make the training objective. Test data comes as ``test=(x, y)``,
    or as ``test_fraction`` of the data held out with :func:`~visualizer.datasets.split` and the scene's
    seed (``x``, ``y`` then keep the training part and ``test`` the rest).
    """

    name: str
    network: Callable[[int], Network]
    x: np.ndarray
    y: np.ndarray
    # What the frames show; without one, the default layout built from the network and the loss
    # (see :func:`~visualizer.draw.panels.defaults.architecture_layout`).
    layout: Layout | None = None
    loss: str | Loss = "mse"
    optimizer: Optimizer | str = field(default_factory=_default_optimizer)
    steps: int = 100
    seed: int = 0
    batch_size: int | None = None
    shuffle: bool = False
    sampler: Sampler | None = None
    every: int = 1
    fps: int | None = None
    size: tuple[int, int] | None = None
    title: str = ""
    input_names: list[str] = field(default_factory=list)
    # Short names of scalar parameters, "hidden.weight[0,0]" → "w1", used by every view (else generated ones,
    # see visualizer/record/names.py).
    param_names: dict[str, str] = field(default_factory=dict)
    description: str = ""
    source: Path | None = None
    # Further layouts by name (``--layout why``); a history trained with one of them can draw it.
    layouts: dict[str, Layout] = field(default_factory=dict)
    penalty: Penalty | list[Penalty] | tuple[Penalty, ...] | None = None
    test: tuple[np.ndarray, np.ndarray] | None = None
    test_fraction: float | None = None
    # Steps a teacher talks over, with their captions: the video slows down and holds there (see run/moments.py).
    moments: dict[int, str] = field(default_factory=dict)
    # How the data are drawn (a visualizer.Data: its function and arguments), so a comparison can draw them
    # again with another noise; with it, x and y may be None (drawn from it).
    data: Data | None = None

    def __post_init__(self) -> None:
        import numpy as np  # here, not at the top: `visualizer list` reads scene files without numpy

        if not NAME_RE.match(self.name):
            raise SceneError(f"scene name {self.name!r} must be letters, digits, '_', '-' or '.', "
                             "not starting with '.', at most 64 characters (it names the output folder)")
        if not callable(self.network):
            raise SceneError(f"scene {self.name!r}: network must be a function of the seed that returns the network "
                             f"(def network(seed): ...), got a {type(self.network).__name__}")
        if self.data is not None and self.x is None and self.y is None:
            if not callable(self.data):
                raise SceneError(f"scene {self.name!r}: data must be a Data(function, **arguments), "
                                 f"got {self.data!r}")
            self.x, self.y = self.data()
        self.x, self.y = self._data(self.x, self.y, "")
        from ..engine.losses import get_loss

        try:
            self.loss = get_loss(self.loss)
        except ValueError as exc:
            raise SceneError(f"scene {self.name!r}: {exc}") from None
        self.optimizer = self._optimizer(self.optimizer)
        self.penalty = self._penalties(self.penalty)
        self._hold_out_test_data()
        self._check_moments()
        if self.layout is None:
            self.layout = self._architecture_layout()
        if self.steps < 1:
            raise SceneError(f"scene {self.name!r}: steps must be at least 1, got {self.steps}")
        if self.batch_size is not None and self.batch_size < 1:
            raise SceneError(f"scene {self.name!r}: batch_size must be at least 1 or None, got {self.batch_size}")

    def _check_moments(self) -> None:
        from ..base.errors import VisualizerError
        from .moments import gather

        if not isinstance(self.moments, dict):
            raise SceneError(f"scene {self.name!r}: moments must be a dict of step → caption, got {self.moments!r}")
        try:
            self.moments = gather(self.moments)
        except VisualizerError as exc:
            raise SceneError(f"scene {self.name!r}: {exc}") from None

    def _data(self, x, y, what: str) -> tuple[np.ndarray, np.ndarray]:
        """``x``, ``y`` as float (rows, columns) arrays of the same, non-zero length, every value finite."""
        import numpy as np
        try:
            x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
        except (TypeError, ValueError) as exc:
            raise SceneError(f"scene {self.name!r}: the {what}data must be numeric arrays ({exc})") from None
        x = x[:, None] if x.ndim == 1 else x
        y = y[:, None] if y.ndim == 1 else y
        if x.ndim != 2 or y.ndim != 2 or len(x) != len(y) or len(x) == 0:
            raise SceneError(f"scene {self.name!r}: {what}x and {what}y need the same, non-zero number of rows "
                             f"(got shapes {x.shape} and {y.shape})")
        for name, a in ((f"{what}x", x), (f"{what}y", y)):
            if not np.isfinite(a).all():
                r = int(np.argwhere(~np.isfinite(a))[0][0])
                raise SceneError(f"scene {self.name!r}: the data {name} holds a non-finite value in row {r}; "
                                 "clean the data first")
        return x, y

    def _optimizer(self, spec: object) -> object:
        from ..engine.optim import Optimizer, get_optimizer

        if isinstance(spec, (str, Optimizer)):
            try:
                return get_optimizer(spec)
            except ValueError as exc:
                raise SceneError(f"scene {self.name!r}: {exc}") from None
        if not callable(getattr(spec, "step", None)):  # anything with step(params, grads) still trains
            raise SceneError(f"scene {self.name!r}: optimizer must be a name such as 'adam:lr=0.01' or an "
                             f"optimizer such as SGD(0.1), got {spec!r}")
        return spec

    def _penalties(self, spec: object) -> tuple[Penalty, ...]:
        from ..engine.penalties import Penalty

        items = () if spec is None else (spec,) if isinstance(spec, Penalty) else spec
        try:
            items = tuple(items)  # type: ignore[arg-type]
        except TypeError:
            items = (spec,)
        bad = [p for p in items if not isinstance(p, Penalty)]
        if bad:
            raise SceneError(f"scene {self.name!r}: penalty must be an L1 or L2 penalty or a list of them, "
                             f"got {bad[0]!r}")
        return items

    def _hold_out_test_data(self) -> None:
        if self.test is not None and self.test_fraction is not None:
            raise SceneError(f"scene {self.name!r}: give test data or a test_fraction, not both")
        if self.test_fraction is not None:
            import numpy as np

            from ..engine.datasets import split

            fraction = self.test_fraction
            if isinstance(fraction, bool) or not isinstance(fraction, (int, float, np.number)) \
                    or not 0 < fraction < 1:
                raise SceneError(f"scene {self.name!r}: test_fraction must be a number between 0 and 1 "
                                 f"(exclusive), got {fraction!r}")
            try:
                (self.x, self.y), self.test = split(self.x, self.y, float(fraction), seed=self.seed)
            except ValueError as exc:
                raise SceneError(f"scene {self.name!r}: {exc}") from None
            return
        if self.test is None:
            return
        if not isinstance(self.test, (tuple, list)) or len(self.test) != 2:  # an array would unpack by rows
            raise SceneError(f"scene {self.name!r}: test must be a pair (x_test, y_test)")
        x_test, y_test = self.test
        x_test, y_test = self._data(x_test, y_test, "test ")
        for what, train, test in (("inputs", self.x, x_test), ("targets", self.y, y_test)):
            if test.shape[1] != train.shape[1]:
                raise SceneError(f"scene {self.name!r}: the test data has {test.shape[1]} {what} per row, "
                                 f"the training data {train.shape[1]}")
        self.test = (x_test, y_test)

    def __repr__(self) -> str:
        return f"Scene({self.name!r}, steps={self.steps}, loss={self.loss.name}, {self.optimizer})"

    def _architecture_layout(self) -> Layout:
        """The default layout for this scene's network and loss (a scene that gives no ``layout``)."""
        import numpy as np

        from ..draw.panels.defaults import architecture_layout

        network = self.network(self.seed)
        if not hasattr(network, "parameters") or not hasattr(network, "n_out"):
            raise SceneError(f"scene {self.name!r}: network(seed) must return a visualizer Network (of Dense "
                             f"layers), got {type(network).__name__}")
        shapes = {name: np.shape(value) for name, value in network.parameters().items()}
        return architecture_layout(self.x.shape[1], network.n_out, self.loss.kind, shapes)

    def _why_layout(self) -> Layout:
        """The why layout built from the network's architecture, around the scene's main panel (for a scene
        that declares none; see :func:`~visualizer.draw.panels.defaults.why_layout`)."""
        from ..draw.panels.compare import main_panel
        from ..draw.panels.defaults import why_layout
        from ..record.model import NetworkModel
        from ..record.modes import stages

        model = NetworkModel(self.network(self.seed))
        try:
            stages(model.layers(), model.other_layers())  # a layer on the inputs has no place in the diagrams
        except ValueError as exc:
            raise SceneError(f"scene {self.name!r} has no why layout: {exc}") from None
        return why_layout(model.layers(), main_panel(self.layout), model.other_layers())

    def layout_named(self, name: str) -> Layout:
        """The layout called ``name`` among :attr:`layouts` (``"default"``: :attr:`layout`)."""
        if name in self.layouts:
            return self.layouts[name]
        if name == "default":
            return self.layout
        if name == "why":
            from ..record.model import NetworkModel
            from .why import carrying_at_start

            # its chain rule for a weight that carries gradient at the start, not a dead unit's
            return carrying_at_start(self._why_layout(), NetworkModel(self.network(self.seed)), self.x, self.y,
                                     self.loss)
        known = ", ".join(["default", *self.layouts, *([] if "why" in self.layouts else ["why"])])
        raise SceneError(f"scene {self.name!r} has no layout {name!r}; its layouts: {known}")


def _is_path(spec: str) -> bool:
    return spec.endswith(".py") or "/" in spec or "\\" in spec or spec.startswith(".") or Path(spec).is_file()


def find_scene_file(spec: str, search: list[Path] | None = None) -> Path:
    """Resolve a scene path, or a bare name looked up in ``./scenes`` and then the bundled scenes."""
    if _is_path(spec):
        path = Path(spec)
        if not path.exists():
            raise SceneError(f"no scene file at {spec}; check the path, or run 'python -m visualizer list'")
        if path.is_dir():
            raise SceneError(f"{spec} is a folder; give a scene file such as scenes/softplus_fit.py")
        if not path.is_file():  # a named pipe would block the import forever; a device is no scene either
            raise SceneError(f"{spec} is not a regular file; give a scene file such as scenes/softplus_fit.py")
        if path.suffix != ".py":
            raise SceneError(f"{spec} is not a Python file; a scene is a .py module that defines 'scene'")
        return path
    dirs = search if search is not None else scene_dirs()
    for d in dirs:
        candidate = d / f"{spec}.py"
        if candidate.is_file():
            return candidate
    names = sorted({p.stem for d in dirs for p in d.glob("*.py") if not p.name.startswith("_")})
    hint = f"; known scenes: {', '.join(names)}" if names else ""
    # Bare names are looked up in ./scenes of the folder the command runs in: say so when there is none.
    where = " (there is no ./scenes folder here)" if search is None and not (Path.cwd() / "scenes").is_dir() else ""
    raise SceneError(f"unknown scene {spec!r}{where}{hint}")


def scene_dirs() -> list[Path]:
    """Where bare scene names are looked up: ``./scenes``, then the bundled scenes."""
    dirs = []
    for d in (Path.cwd() / "scenes", bundled_scenes()):
        if d.is_dir() and d.resolve() not in [x.resolve() for x in dirs]:
            dirs.append(d)
    return dirs


SOURCE = "__visualizer_source__"  # a user module's (path, source bytes), so other processes can import it too


def import_user_file(path: Path, prefix: str = "visualizer_scene_"):
    """Import a user's Python file as a module with importlib (not exec), reporting unreadable or invalid
    files in one line. Exceptions raised by the file's own code propagate unchanged (the user's traceback)."""
    path = Path(path).resolve()
    try:
        source = read_regular(path)
    except NotAFile as exc:
        raise SceneError(str(exc)) from None
    except OSError as exc:
        raise SceneError(f"cannot read {path}: {exc.strerror or exc}") from None
    return _import(f"{prefix}{re.sub(r'[^0-9A-Za-z_]', '_', path.stem)}", path, source, path)


def _import(module_name: str, path: Path, source: bytes, origin: Path):
    """Import ``source`` (the text of the user's file ``origin``, found at ``path``) as ``module_name``."""
    spec_obj = importlib.util.spec_from_file_location(module_name, path)
    if spec_obj is None or spec_obj.loader is None:
        raise SceneError(f"cannot import {origin} as a Python module")
    try:
        compile(source, str(origin), "exec")
    except (SyntaxError, ValueError) as exc:  # ValueError: null bytes, i.e. not a text file at all
        where = f" line {exc.lineno}" if getattr(exc, "lineno", None) else ""
        detail = exc.msg if isinstance(exc, SyntaxError) else str(exc)
        raise SceneError(f"{origin}{where} is not valid Python: {detail}") from None
    module = importlib.util.module_from_spec(spec_obj)
    setattr(module, SOURCE, (str(origin), source))
    sys.modules[module_name] = module
    try:
        spec_obj.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(module_name, None)
        raise
    return module


def import_source(module_name: str, origin: str, source: bytes):
    """The user's module ``module_name`` in this process, imported from the text ``source`` of the file
    ``origin`` (in another process, maybe on another machine). The file itself is used when it is here with
    that text (so files beside it are found); otherwise a private copy of the text. Imported once."""
    module = sys.modules.get(module_name)
    if module is not None and getattr(module, SOURCE, (None, None))[1] == source:
        return module
    path = Path(origin)
    try:
        here = path.is_file() and path.read_bytes() == source
    except OSError:
        here = False
    if here:
        return _import(module_name, path, source, path)
    import linecache
    import tempfile

    with tempfile.TemporaryDirectory(prefix="visualizer-") as tmp:
        copy = Path(tmp) / path.name
        copy.write_bytes(source)
        module = _import(module_name, copy, source, path)
    # Tracebacks of the user's code read lines from the copy's name; the copy is gone, so keep its text.
    lines = source.decode("utf-8", "replace").splitlines(keepends=True)
    linecache.cache[str(copy)] = (len(source), None, lines, str(copy))
    return module


def load_scene(spec: str | Path) -> Scene:
    """Import a scene file (by path or bare name) and return its :class:`Scene`.

    Exceptions raised by the scene's own code propagate unchanged, so the user sees their traceback.
    """
    path = find_scene_file(str(spec)).resolve()
    return scene_of(import_user_file(path), path)


def scene_of(module, path: Path) -> Scene:
    """The :class:`Scene` the scene file ``path``, imported as ``module``, defines."""
    obj = getattr(module, "scene", None)
    if obj is None:
        raise SceneError(f"{path.name} defines no scene: add 'scene = Scene(...)' or 'def scene(): return Scene(...)'")
    if callable(obj) and not isinstance(obj, Scene):
        obj = obj()
    if not isinstance(obj, Scene):
        raise SceneError(f"{path.name}: 'scene' must be a visualizer.Scene or a function returning one, "
                         f"got {type(obj).__name__}")
    obj.source = path
    if not obj.description:
        obj.description = first_line(module.__doc__)
    return obj


def load_layout(path: str | Path, history=None):
    """Import a layout file: a Python file exposing ``layout`` (a :class:`Layout`, or a function of the
    history returning one)."""
    from ..draw.panels import Layout

    path = Path(path)
    if not path.is_file() or path.suffix != ".py":
        raise SceneError(f"no layout file at {path}; give a .py file that defines 'layout'")
    module = import_user_file(path)
    obj = getattr(module, "layout", None)
    if obj is None:
        raise SceneError(f"{path.name} defines no layout: add 'layout = Layout(...)'")
    if callable(obj) and not isinstance(obj, Layout):
        import inspect

        if history is None:
            raise SceneError(f"{path.name}: 'layout' is a function of a history; it draws a saved history "
                             "(from-history), not a scene trained now: define 'layout = Layout(...)' for that")
        try:
            inspect.signature(obj).bind(history)
        except TypeError:
            raise SceneError(f"{path.name}: the 'layout' function must take one argument, the history") from None
        except ValueError:
            pass  # no signature to read (a builtin): it is called as it is
        obj = obj(history)
    if not isinstance(obj, Layout):
        raise SceneError(f"{path.name}: 'layout' must be a visualizer.Layout or a function returning one, "
                         f"got {type(obj).__name__}")
    return obj


def first_line(doc: str | None) -> str:
    """The first non-empty line of a docstring."""
    for line in (doc or "").strip().splitlines():
        if line.strip():
            return line.strip()
    return ""


def describe_scene_file(path: Path) -> str:
    """A scene file's one-line description, read from its docstring without running it."""
    import ast

    try:
        tree = ast.parse(path.read_text(encoding="utf-8"))
    except (OSError, SyntaxError, UnicodeDecodeError) as exc:
        return f"(cannot read: {exc.__class__.__name__})"
    return first_line(ast.get_docstring(tree))
