"""What the job master hands a task actor: its chain, its inputs and its outputs."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from rayflink.graph.transformations import OperatorSpec, Partitioner


@dataclass(frozen=True)
class NodeDeployment:
    """One operator of a chain."""

    node_id: int
    name: str
    uid: str
    spec: OperatorSpec
    state_key_selectors: tuple | None
    output_type: Any = None


@dataclass(frozen=True)
class ChainedEdge:
    """An edge inside the chain: ``source`` node feeds ``target`` node directly."""

    source: int
    target: int
    side_tag: Any = None


@dataclass(frozen=True)
class OutputEdge:
    """A network edge leaving the chain from ``source`` node."""

    source: int
    side_tag: Any
    partitioner: Partitioner
    key_selector: Any
    max_parallelism: int
    target_name: str
    targets: list  # actor handles, one per channel
    channel_ids: list  # the channel id of each target at its receiver


@dataclass(frozen=True)
class TaskDeployment:
    """Everything one subtask needs to run."""

    job_id: str
    job_name: str
    vertex_id: int
    vertex_name: str
    subtask_index: int
    parallelism: int
    max_parallelism: int
    nodes: list[NodeDeployment]
    chained_edges: list[ChainedEdge]
    input_channels: list[int]  # input index (0/1) of each input channel
    config: dict
    working_dir: str
    attempt: int = 0
    source: Any = None
    source_splits: list = field(default_factory=list)  # SourceSplits, or [split id, uri, relpath] restored
    restored_splits: list | None = None  # restored: every split of the source, [split id, uri, relpath]
    state_backend: Any = None
    checkpoint_uri: str | None = None  # the job's checkpoint directory (storage URI)
    restore: dict = field(default_factory=dict)  # operator uid -> [(storage uri, relpath)] to restore from
