"""Dataset layouts, one module each: `data.layout` names the module, its Layout subclass lists the folder."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from typing import Any

from deepfake_lightning.data.items import Layout


def names() -> list[str]:
    """The package's layouts (its modules here): what `data.layout` and `synth.layout` accept."""
    return sorted(m.name for m in pkgutil.iter_modules(__path__))


def layout_class(name: str, key: str = "data.layout") -> type[Layout]:
    """The Layout of `data.layout` (or `key`): a module of this package by name, or a dotted module path of your own."""
    module_name = name if "." in name else f"{__name__}.{name}"
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError:
        raise ValueError(f"{key}={name}: no such layout (the package has {', '.join(names())})") from None
    found = [c for c in vars(module).values() if inspect.isclass(c) and issubclass(c, Layout) and c is not Layout]
    found = [c for c in found if c.__module__ == module.__name__]
    if len(found) != 1:
        raise ValueError(f"{key}={name}: {module_name} must define one Layout subclass, it defines {len(found)}")
    return found[0]


def make_layout(name: str, keys: dict[str, Any]) -> Layout:
    """The layout with its own keys of the data config (its constructor's parameters). The other keys left in
    `keys` must be null: another layout's keys inherited from the base config (data.test_list is Celeb-DF's)."""
    cls = layout_class(name)
    params = list(inspect.signature(cls).parameters)
    for k, v in keys.items():
        if k not in params and v not in (None, "null"):
            takes = f"its keys are {', '.join(params)}" if params else "it has no keys of its own"
            raise ValueError(f"data.{k}={v}: the {name} layout does not read it ({takes})")
    return cls(**{k: keys[k] for k in params if k in keys})
