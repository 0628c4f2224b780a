"""Pickling that carries the user's scene and layout files along, so a task can run in any process.

A layout or scene built from a user's file refers to functions and classes of that file (a target function,
a panel of their own). Plain pickle names them by module, and the module (``visualizer_scene_<name>``) exists
only in the process that imported the file. Here they travel as the file's text plus the name inside it;
the receiving process imports that text once (:func:`visualizer.run.scene.import_source`) and looks the name up.
Everything else pickles as usual.
"""
from __future__ import annotations

import io
import pickle
import sys
import types

from ..base.errors import VisualizerError
from .scene import SOURCE, import_source

_TAG = "visualizer-user-file"


class _Pickler(pickle.Pickler):
    def persistent_id(self, obj: object) -> tuple | None:
        if not isinstance(obj, (type, types.FunctionType)):
            return None
        module = sys.modules.get(getattr(obj, "__module__", None) or "")
        origin = getattr(module, SOURCE, None)
        if origin is None:
            return None
        found: object = module
        for part in obj.__qualname__.split("."):
            found = getattr(found, part, None)
        if found is not obj:
            raise pickle.PicklingError(f"{obj.__qualname__} of {origin[0]} cannot be found by its name")
        return (_TAG, module.__name__, origin[0], origin[1], obj.__qualname__)


class _Unpickler(pickle.Unpickler):
    def persistent_load(self, pid: tuple) -> object:
        tag, module_name, origin, source, qualname = pid
        if tag != _TAG:
            raise pickle.UnpicklingError(f"unknown reference {tag!r}")
        obj = import_source(module_name, origin, source)
        for part in qualname.split("."):
            obj = getattr(obj, part)
        return obj


def dumps(obj: object, what: str = "the layout") -> bytes:
    """``obj`` as bytes any process with visualizer can load, user files included; one clear error if some
    part cannot travel (a lambda, or a function defined inside another)."""
    buffer = io.BytesIO()
    try:
        _Pickler(buffer, protocol=pickle.HIGHEST_PROTOCOL).dump(obj)
    except (pickle.PicklingError, TypeError, AttributeError) as exc:
        raise VisualizerError(f"{what} cannot be sent to other processes ({exc}); define the functions it uses "
                              "with 'def' at the top level of the scene file") from None
    return buffer.getvalue()


def loads(data: bytes) -> object:
    """What :func:`dumps` made, in this process."""
    return _Unpickler(io.BytesIO(data)).load()


__all__ = ["dumps", "loads"]
