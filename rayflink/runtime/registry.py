"""The operator registry: ``OperatorKind`` -> the physical operator class that runs it.

Dependencies point one way: ``apps -> connectors, operators -> rayflink core``. The core
(``rayflink.runtime``, ``rayflink.graph``) defines the operator contract
(``rayflink.runtime.operator``) and the kinds a plan may ask for (``OperatorKind``); it never
imports the packages that implement them. Those register their classes when they are imported::

    from rayflink.runtime.registry import register_operator

    @register_operator(OperatorKind.MAP)
    class MapOperator(OneInputStreamOperator): ...

and the task loads them by name: the first time a task meets a kind nobody registered, the
registry imports every package of ``PLUGIN_PACKAGES`` (an entry-point-like list of module
names, ``importlib.import_module``), whose ``__init__`` imports its operator modules.

Why not Python entry points (``importlib.metadata``): the list would live in the installed
distribution's metadata, so changing it needs a reinstall of every checkout and every Ray
worker's environment, and reading it scans every installed distribution at each task start;
the operators ship in this distribution anyway. Why not a static import in the task: that is
the dependency from core to operators that made ``rayflink.runtime.task`` and
``rayflink.operators`` import each other. The registry is process-wide (one per task executor
process, as Flink's service loader), filled once and then only read.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable
from typing import TypeVar

from rayflink.graph.transformations import OperatorKind, OperatorSpec
from rayflink.runtime.operator import OperatorContext, StreamOperator

PLUGIN_PACKAGES: tuple[str, ...] = ("rayflink.operators",)

_T = TypeVar("_T", bound=type[StreamOperator])


class OperatorRegistry:
    """Operator kinds -> classes, filled by ``register``; ``create`` instantiates one for a spec."""

    def __init__(self, plugin_packages: tuple[str, ...]) -> None:
        self._classes: dict[OperatorKind, type[StreamOperator]] = {}
        self._plugin_packages = plugin_packages
        self._lock = threading.Lock()
        self._loaded = False

    def register(self, kind: OperatorKind, cls: type[StreamOperator]) -> None:
        """Make ``cls`` run operators of ``kind``; a second, different class for a kind is an error."""
        current = self._classes.get(kind)
        if current is not None and current is not cls:
            raise ValueError(f"operator kind {kind.value!r} is registered twice: {current.__qualname__} and "
                             f"{cls.__qualname__}")
        self._classes[kind] = cls

    def operator_class(self, kind: OperatorKind) -> type[StreamOperator]:
        """The class registered for ``kind``, loading the plug-in packages on the first miss."""
        cls = self._classes.get(kind)
        if cls is None:
            self._load_plugins()
            cls = self._classes.get(kind)
        if cls is None:
            raise ValueError(f"no physical operator is registered for kind {kind!r} (registered: "
                             f"{', '.join(sorted(k.value for k in self._classes)) or 'none'}; plug-in packages "
                             f"{', '.join(self._plugin_packages)}); register one with @register_operator")
        return cls

    def create(self, spec: OperatorSpec, ctx: OperatorContext) -> StreamOperator:
        """Instantiate the physical operator for ``spec``."""
        return self.operator_class(spec.kind)(spec.params, ctx)

    def _load_plugins(self) -> None:
        with self._lock:
            if self._loaded:
                return
            for package in self._plugin_packages:
                importlib.import_module(package)
            self._loaded = True


OPERATORS = OperatorRegistry(PLUGIN_PACKAGES)


def register_operator(*kinds: OperatorKind) -> Callable[[_T], _T]:
    """Class decorator: the decorated operator class runs every kind in ``kinds``."""

    def decorate(cls: _T) -> _T:
        for kind in kinds:
            OPERATORS.register(kind, cls)
        return cls

    return decorate


def create_operator(spec: OperatorSpec, ctx: OperatorContext) -> StreamOperator:
    """Instantiate the physical operator ``spec`` asks for (see ``OperatorRegistry.create``)."""
    return OPERATORS.create(spec, ctx)
