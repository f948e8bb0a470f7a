"""Trained networks as safetensors plus a standalone PyTorch module.

Both weight-training domains (`evoforge.weights.domain_ea`,
`evoforge.weights.domain_sharing`) keep each stage's network as
``best.safetensors`` through `save_network`: the tensors named as the
network's PyTorch module names them, and in the header's metadata which
module that is and the constructor arguments that rebuild it. So one
reader serves both: `load_network` rebuilds the module inside evoforge, and
`export_run` (``evoforge export RUN_DIR``) writes

- ``model.py``: the module's own source (the same class evoforge trains, so
  the two cannot drift apart), its arguments, and ``load(path)``; plain
  PyTorch and safetensors, no evoforge import;
- ``weights.safetensors``: the best stage's network.

Example:
    >>> import tempfile, torch
    >>> from evoforge.weights.batched import PopulationMLP, save_mlp
    >>> net = PopulationMLP((4, 3, 2))
    >>> params = net.init(1, torch.Generator().manual_seed(0))[0]
    >>> path = tempfile.mkdtemp() + "/best.safetensors"
    >>> save_mlp(path, net, params, generation=5)
    >>> namespace = {}
    >>> exec(module_source(network_info(path)), namespace)
    >>> model = namespace["load"](path)
    >>> x = torch.randn(3, 4)
    >>> bool(torch.allclose(model(x), net.logits_one(params, x)))
    True
"""

from __future__ import annotations

import importlib
import inspect
import json
import shutil
import textwrap
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from evoforge.errors import EvoforgeError

META_KEY = "evoforge"
MODEL_FILE = "model.py"
WEIGHTS_FILE = "weights.safetensors"

# The modules a network file may name: where the class lives, the module-level
# helpers its source needs, and what the exported file says it is.
MODULES: dict[str, tuple[str, tuple[str, ...], str]] = {
    "MaxPoolMLP": (
        "evoforge.weights.batched",
        (),
        "A network trained without gradients by population-batched evolution"
        " (Prellberg, chapter 5). ``model(x)``: logits for images ``x``.",
    ),
    "SharedConvNet": (
        "evoforge.weights.sharing",
        ("_block",),
        "A multi-task network whose layer sharing was learnt (Prellberg, chapter 8)."
        " ``model(x, task)``: logits of task number ``task`` for images ``x``"
        " (n, 1, side, side); ``NETWORK['paths']`` says which layers the tasks share.",
    ),
}

_IMPORTS = """from __future__ import annotations

import itertools
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn
"""

_LOAD = '''

def load(path="weights.safetensors"):
    """{cls} with the weights of ``path``, in eval mode."""
    from safetensors.torch import load_file

    model = {cls}(**NETWORK)
    model.load_state_dict(load_file(str(path)))
    return model.eval()
'''


def save_network(
    path: str | Path,
    module: str,
    kwargs: Mapping[str, Any],
    tensors: Mapping[str, torch.Tensor],
    **meta: object,
) -> None:
    """Write ``tensors`` (a state dict of ``module(**kwargs)``) as safetensors,
    with the module, its arguments and ``meta`` (JSON-able) in the metadata."""
    from safetensors.torch import save_file  # deferred: only saving needs it

    if module not in MODULES:
        raise ValueError(f"module must be one of {sorted(MODULES)}, got {module!r}")
    info = {"module": module, "network": dict(kwargs), **meta}
    data = {k: v.detach().cpu().contiguous() for k, v in tensors.items()}
    save_file(data, str(path), metadata={META_KEY: json.dumps(info)})


def network_info(path: str | Path) -> dict[str, Any]:
    """The metadata `save_network` stored: ``module``, ``network`` (its
    arguments) and the rest (generation, accuracy, tasks, ...)."""
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as f:
            info = json.loads((f.metadata() or {}).get(META_KEY, "{}"))
    except (OSError, ValueError) as exc:  # safetensors raises its own errors as these
        raise EvoforgeError(f"{path}: not a readable safetensors file ({exc})") from None
    if "network" not in info:
        raise EvoforgeError(f"{path}: no evoforge network metadata (not written by evoforge?)")
    info.setdefault("module", "MaxPoolMLP")  # files written before the key existed
    if info["module"] not in MODULES:
        raise EvoforgeError(
            f"{path}: unknown network module {info['module']!r}; known: {sorted(MODULES)}"
        )
    return info


def _class(name: str) -> type[nn.Module]:
    return getattr(importlib.import_module(MODULES[name][0]), name)


def load_network(path: str | Path) -> nn.Module:
    """The module a `save_network` file holds, weights loaded (no pickle involved)."""
    from safetensors.torch import load_file

    info = network_info(path)
    module = _class(info["module"])(**info["network"])
    module.load_state_dict(load_file(str(path)))
    return module


def module_source(info: Mapping[str, Any]) -> str:
    """``model.py`` for a network file's `network_info`: docstring, imports,
    the class's source and its helpers', ``NETWORK`` and ``load``."""
    name = info["module"]
    where, helpers, title = MODULES[name]
    source_module = importlib.import_module(where)
    details = {k: v for k, v in info.items() if k not in ("module", "network")}
    doc = [*textwrap.wrap(title, 79), "", "Exported by evoforge. Plain PyTorch:", ""]
    doc.append('    model = load("weights.safetensors")')
    if details:
        doc += ["", "Training record:"]
        doc += [f"    {k}: {json.dumps(v)}" for k, v in details.items()]
    parts = ['"""' + "\n".join(doc) + '\n"""\n', _IMPORTS]
    for helper in helpers:
        parts.append("\n" + inspect.getsource(getattr(source_module, helper)))
    parts.append("\n" + inspect.getsource(_class(name)))
    parts.append(f"\nNETWORK = {info['network']!r}\n")
    parts.append(_LOAD.format(cls=name))
    return "\n".join(parts)


def export_run(run_dir: str | Path, out: str | Path) -> list[Path]:
    """Write ``model.py`` and ``weights.safetensors`` for a weights_ea or
    weights_sharing run's best stage into ``out``; returns the paths written."""
    from evoforge.api import open_run
    from evoforge.evolution.artefacts import ARTEFACT_DIR
    from evoforge.weights.stages import BEST_FILE

    run_dir, out = Path(run_dir), Path(out)
    with open_run(run_dir) as run:
        best = run.best()
    if best is None:
        raise EvoforgeError(f"{run_dir}: the run has no valid stage yet")
    source = run_dir / ARTEFACT_DIR / str(best.id) / BEST_FILE
    if not source.is_file():
        raise EvoforgeError(f"{source}: missing; the best stage's network was not kept")
    text = module_source(network_info(source))
    out.mkdir(parents=True, exist_ok=True)
    (out / MODEL_FILE).write_text(text)
    shutil.copyfile(source, out / WEIGHTS_FILE)
    return [out / MODEL_FILE, out / WEIGHTS_FILE]
