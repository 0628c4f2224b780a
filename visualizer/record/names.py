"""One name for every parameter entry, unit and input, used alike by every view of a run.

The diagram's edges and neurons, the parameter and gradient panels, the chain-rule table, the explain figure,
the unit maps, compare and the player's table all name things through these functions, so ``w5`` in one
view is ``w5`` in every other.

The scheme (dense layers counted from 1, units and inputs counted from 1 as the diagram labels them):

* **inputs**: the run's ``input_names`` (``Scene(input_names=...)``); unnamed ones ``x1``, ``x2``, … (``x``
  when there is one input).
* **units**: ``h1``, ``h2``, … in a network with one hidden layer; ``h1.3`` (layer 1, unit 3) when there are
  several; the output layer's ``ŷ`` (``ŷ1``, ``ŷ2``, … for several outputs), as the chain rule writes them
* **parameters**: the scene's own short name when it gives one (``Scene(param_names={"hidden.weight[0,0]":
  "w1"})``, keyed by the stored name and index); otherwise ``w2[3,1]``, the weight of dense layer 2 from its
  input 3 to its unit 1 (whichever way round the weight is stored), and ``b2[1]``, the bias of that unit.
  A parameter outside the dense layers (batch norm's scale, say) keeps its stored name and index:
  ``norm.weight[3]``.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from .probes import LayerInfo


def scalar_key(name: str, index: Sequence[int]) -> str:
    """``"hidden.weight[0,1]"``: a scalar by its stored name and index, the key of ``param_names``."""
    return f"{name}[{','.join(str(int(i)) for i in index)}]"


def named_inputs(n: int, given: Sequence[str] = ()) -> list[str]:
    """``n`` inputs' names: ``given`` first, the rest ``x<i+1>`` (``x`` when there is one input)."""
    return [str(given[i]) if i < len(given) else ("x" if n == 1 else f"x{i + 1}") for i in range(n)]


def input_names(info) -> list[str]:
    """Every input's name: the run's own, else ``x1``, ``x2``, … (``x`` for a single input)."""
    layers = getattr(info, "layers", None) or []
    given = list(getattr(info, "input_names", None) or [])
    return named_inputs(max(layers[0].n_in if layers else 0, len(given)), given)


def input_name(info, i: int) -> str:
    """Input ``i``'s name (counted from 0), for an axis: the run's own, else ``x<i+1>``."""
    names = input_names(info)
    return names[i] if i < len(names) else f"x{i + 1}"


def unit_names(layers: Sequence[LayerInfo]) -> dict[str, list[str]]:
    """Each dense layer's units' names by layer name: ``h1`` … (``h1.3`` with several hidden layers), ``ŷ`` …"""
    hidden = len(layers) - 1
    out: dict[str, list[str]] = {}
    for k, lay in enumerate(layers):
        if k == hidden:
            out[lay.name] = ["ŷ"] if lay.n_out == 1 else [f"ŷ{u + 1}" for u in range(lay.n_out)]
            continue
        prefix = f"h{k + 1}." if hidden > 1 else "h"
        out[lay.name] = [f"{prefix}{u + 1}" for u in range(lay.n_out)]
    return out


def layer_name(layers: Sequence[LayerInfo], layer: str) -> str:
    """A dense layer as the diagram heads its column: ``h2`` (units ``h2.1`` …), ``h`` for the only hidden
    layer (units ``h1`` …), ``ŷ`` for the output; any other layer (batch norm) keeps its own name."""
    names = unit_names(layers)
    if layer not in names:
        return layer
    first = names[layer][0]
    return first.rpartition(".")[0] if "." in first else first.rstrip("0123456789") or first


def unit_name(layers: Sequence[LayerInfo], layer: str, unit: int) -> str:
    """The name of ``layer``'s unit ``unit`` (counted from 0) as the diagram labels it."""
    names = unit_names(layers)
    if layer not in names:
        raise ValueError(f"no dense layer {layer!r}; the layers are {list(names)}")
    return names[layer][unit]


def _generated(layers: Sequence[LayerInfo], name: str) -> tuple[int, LayerInfo, bool] | None:
    """(layer number from 1, the layer, is a weight) of a dense layer's parameter ``name``, or None."""
    for k, lay in enumerate(layers):
        if name == lay.weight:
            return k + 1, lay, True
        if lay.bias and name == lay.bias:
            return k + 1, lay, False
    return None


def param_names(info, name: str, shape: Sequence[int]) -> list[str]:
    """Every scalar of parameter ``name`` (stored ``shape``, without the step axis), in its ravel order."""
    return [param_name(info, name, index) for index in np.ndindex(*tuple(int(d) for d in shape))]


def param_name(info, name: str, index: Sequence[int]) -> str:
    """One scalar's name: the scene's (``w5``), else the generated one (``w2[1,1]``), else ``name[index]``."""
    given = getattr(info, "param_names", None) or {}
    key = scalar_key(name, index)
    if key in given:
        return str(given[key])
    found = _generated(getattr(info, "layers", None) or [], name)
    if found is None or len(index) != (2 if found[2] else 1):
        return key
    k, lay, weight = found
    if not weight:
        return f"b{k}[{int(index[0]) + 1}]"
    i, j = (index[1], index[0]) if lay.transposed else (index[0], index[1])
    return f"w{k}[{int(i) + 1},{int(j) + 1}]"


def all_param_names(history) -> dict[str, list[str]]:
    """Every recorded parameter's scalar names, by parameter, each list in the parameter's ravel order (a
    comparison's ``run<k>/hidden.weight`` is named as its run's ``hidden.weight``)."""
    def own(name: str) -> str:
        head, _, rest = name.partition("/")
        return rest if rest and head.startswith("run") and head[3:].isdigit() else name
    return {name: param_names(history.info, own(name), np.shape(values)[1:]) for name, values in history.params.items()}


__all__ = ["all_param_names", "input_name", "input_names", "named_inputs", "param_name", "param_names", "scalar_key",
           "layer_name", "unit_name", "unit_names"]
