"""The logical plan: what the user asked for, recorded by the DataStream API."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from rayflink.common.typeinfo import TypeInformation

# Partitioners between operators (Flink's names).
FORWARD = "FORWARD"
REBALANCE = "REBALANCE"
RESCALE = "RESCALE"
SHUFFLE = "SHUFFLE"
BROADCAST = "BROADCAST"
HASH = "HASH"
GLOBAL = "GLOBAL"
CUSTOM = "CUSTOM"  # partition_custom: the edge's key_selector is (record, n_channels) -> channel

# Chaining strategies.
CHAIN_ALWAYS = "ALWAYS"
CHAIN_HEAD = "HEAD"  # start_new_chain(): do not chain to the predecessor
CHAIN_NEVER = "NEVER"  # disable_chaining(): chain to nothing


@dataclass(frozen=True)
class OperatorSpec:
    """A physical operator to instantiate in a task: its kind and its arguments.

    The ``operators`` package maps ``kind`` to a class (``operators.registry``).
    """

    kind: str
    params: dict = field(default_factory=dict)


@dataclass(eq=False)
class Transformation:
    """One node of the logical plan. Virtual kinds (partition, union, side_output) become edges."""

    id: int
    kind: str  # "source" | "operator" | "sink" | "partition" | "union" | "side_output"
    name: str
    inputs: list["Transformation"] = field(default_factory=list)
    description: str | None = None  # set_description(): shown in the execution plan
    operator: OperatorSpec | None = None
    parallelism: int | None = None
    max_parallelism: int | None = None
    uid: str | None = None
    output_type: TypeInformation | None = None
    chaining: str = CHAIN_ALWAYS
    slot_sharing_group: str = "default"
    # partition transformations
    partitioner: str | None = None
    key_selector: Callable[[Any], Any] | None = None
    # keyed operators: one key selector per input (None for non-keyed)
    state_key_selectors: tuple | None = None
    # side outputs
    side_tag: Any = None
    # sources
    source: Any = None
    watermark_strategy: Any = None
    # sinks that two-phase-commit or collect to the client
    collect_id: str | None = None


class TransformationIds:
    """Hands out transformation ids for one environment."""

    def __init__(self) -> None:
        self._next = itertools.count(1)

    def next(self) -> int:
        return next(self._next)
