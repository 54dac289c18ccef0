"""Translate the logical plan into a job graph: stream nodes chained into job vertices."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from rayflink.errors import GraphBuildError
from rayflink.graph.transformations import ChainingStrategy, Partitioner, Transformation


@dataclass(eq=False)
class StreamNode:
    """A physical operator of the plan, before chaining."""

    id: int
    name: str
    uid: str
    kind: str  # "source" | "operator" | "sink"
    parallelism: int
    max_parallelism: int
    transformation: Transformation
    in_edges: list["StreamEdge"] = field(default_factory=list)
    out_edges: list["StreamEdge"] = field(default_factory=list)


@dataclass(eq=False)
class StreamEdge:
    """A connection between two stream nodes."""

    source: StreamNode
    target: StreamNode
    partitioner: Partitioner
    input_index: int  # 0 or 1: which input of a two-input target
    key_selector: Any = None
    side_tag: Any = None
    chained: bool = False  # decided by build_job_graph: the target runs in the source's task


@dataclass(eq=False)
class JobVertex:
    """A task: a chain of stream nodes run together in one actor per subtask."""

    id: int
    nodes: list[StreamNode]  # topological order, nodes[0] is the chain head
    parallelism: int
    max_parallelism: int

    @property
    def head(self) -> StreamNode:
        return self.nodes[0]

    @property
    def name(self) -> str:
        return " -> ".join(n.name for n in self.nodes)

    def is_source(self) -> bool:
        return self.head.kind == "source"

    def buffer_timeout(self) -> int | None:
        """The buffer timeout (ms) set on the chain's operators whose output leaves the task
        (``set_buffer_timeout``): the smallest, -1 only if all are -1; None when none is set."""
        ids = {n.id for n in self.nodes}
        timeouts = [n.transformation.buffer_timeout for n in self.nodes
                    if n.transformation.buffer_timeout is not None
                    and any(e.target.id not in ids for e in n.out_edges)]
        if not timeouts:
            return None
        flushing = [t for t in timeouts if t >= 0]
        return min(flushing) if flushing else -1


@dataclass(eq=False)
class JobEdge:
    """A network edge between two job vertices."""

    source_vertex: JobVertex
    target_vertex: JobVertex
    stream_edge: StreamEdge


@dataclass(eq=False)
class JobGraph:
    """What the job master deploys."""

    name: str
    vertices: list[JobVertex]
    edges: list[JobEdge]
    config: dict
    state_backend: Any = None  # the user's HashMapStateBackend()/EmbeddedRocksDBStateBackend(), or None

    def in_edges(self, vertex: JobVertex) -> list[JobEdge]:
        return [e for e in self.edges if e.target_vertex is vertex]

    def out_edges(self, vertex: JobVertex) -> list[JobEdge]:
        return [e for e in self.edges if e.source_vertex is vertex]

    def chained_edges(self, vertex: JobVertex) -> list[StreamEdge]:
        ids = {n.id for n in vertex.nodes}
        return [e for n in vertex.nodes for e in n.out_edges if e.target.id in ids and e.source.id in ids
                and e.chained]


def build_job_graph(sinks: list[Transformation], *, name: str, default_parallelism: int,
                    default_max_parallelism: int, config: dict,
                    chaining_enabled: bool = True) -> JobGraph:
    """Turn the transformations reachable from ``sinks`` into a chained job graph."""
    nodes: dict[int, StreamNode] = {}
    edges: list[StreamEdge] = []
    used_uids: dict[str, str] = {}

    def node_for(t: Transformation) -> StreamNode:
        if t.id in nodes:
            return nodes[t.id]
        parallelism = t.parallelism or default_parallelism
        max_par = t.max_parallelism or default_max_parallelism
        if parallelism > max_par:
            raise GraphBuildError(
                f"operator {t.name!r}: parallelism {parallelism} exceeds max parallelism {max_par}; "
                "raise set_max_parallelism(...) or lower set_parallelism(...)"
            )
        uid = t.uid or _auto_uid(t)
        if uid in used_uids:
            raise GraphBuildError(
                f"operator {t.name!r}: uid {uid!r} is already used by operator {used_uids[uid]!r}; "
                "every operator needs its own uid"
            )
        used_uids[uid] = t.name
        node = StreamNode(t.id, t.name, uid, t.kind, parallelism, max_par, t)
        nodes[t.id] = node
        for index, upstream in enumerate(t.inputs):
            for src, partitioner, key_sel, tag in _resolve(upstream):
                connect(node_for(src), node, partitioner, index, key_sel, tag)
        return node

    def connect(src: StreamNode, dst: StreamNode, partitioner: Partitioner | None, index: int,
                key_selector: Any, tag: Any) -> None:
        if partitioner is None:
            partitioner = Partitioner.FORWARD if src.parallelism == dst.parallelism else Partitioner.REBALANCE
        if partitioner is Partitioner.FORWARD and src.parallelism != dst.parallelism:
            raise GraphBuildError(
                f"forward edge {src.name!r} -> {dst.name!r} needs equal parallelism, got "
                f"{src.parallelism} and {dst.parallelism}; use rebalance() or rescale()"
            )
        if partitioner is Partitioner.HASH and src.max_parallelism != dst.max_parallelism:
            dst.max_parallelism = src.max_parallelism = max(src.max_parallelism, dst.max_parallelism)
        edge = StreamEdge(src, dst, partitioner, index, key_selector, tag)
        src.out_edges.append(edge)
        dst.in_edges.append(edge)
        edges.append(edge)

    for sink in sinks:
        node_for(sink)

    # keyed operators share the max parallelism of their key_by edge (key groups must agree)
    for node in nodes.values():
        for edge in node.in_edges:
            if edge.partitioner is Partitioner.HASH:
                node.max_parallelism = edge.source.max_parallelism

    # chaining: a forward edge of equal parallelism into a single-input node
    for edge in edges:
        edge.chained = chaining_enabled and _chainable(edge)

    vertices: list[JobVertex] = []
    vertex_of: dict[int, JobVertex] = {}
    for node in _topological(nodes):
        incoming = [e for e in node.in_edges if e.chained]
        if incoming:
            vertex = vertex_of[incoming[0].source.id]
            vertex.nodes.append(node)
        else:
            vertex = JobVertex(len(vertices) + 1, [node], node.parallelism, node.max_parallelism)
            vertices.append(vertex)
        vertex_of[node.id] = vertex
    job_edges = [JobEdge(vertex_of[e.source.id], vertex_of[e.target.id], e)
                 for e in edges if not e.chained]
    return JobGraph(name, vertices, job_edges, config)


def _chainable(edge: StreamEdge) -> bool:
    src, dst = edge.source, edge.target
    return (
        edge.partitioner is Partitioner.FORWARD
        and len(dst.in_edges) == 1
        and src.parallelism == dst.parallelism
        and dst.kind != "source"
        and dst.transformation.chaining not in (ChainingStrategy.HEAD, ChainingStrategy.NEVER)
        and src.transformation.chaining is not ChainingStrategy.NEVER
        and src.transformation.slot_sharing_group == dst.transformation.slot_sharing_group
    )


def _resolve(t: Transformation) -> list[tuple[Transformation, Partitioner | None, Any, Any]]:
    """Follow virtual transformations down to physical ones, collecting edge properties."""
    if t.kind == "partition":
        return [(src, t.partitioner, t.key_selector, tag) for src, _p, _k, tag in _resolve(t.inputs[0])]
    if t.kind == "side_output":
        return [(src, p, k, t.side_tag) for src, p, k, _tag in _resolve(t.inputs[0])]
    if t.kind == "union":
        return [r for i in t.inputs for r in _resolve(i)]
    return [(t, None, None, None)]


def _topological(nodes: dict[int, StreamNode]) -> list[StreamNode]:
    order: list[StreamNode] = []
    seen: set[int] = set()

    def visit(n: StreamNode) -> None:
        if n.id in seen:
            return
        seen.add(n.id)
        for e in n.in_edges:
            visit(e.source)
        order.append(n)

    for n in sorted(nodes.values(), key=lambda n: n.id):
        visit(n)
    return order


def _auto_uid(t: Transformation) -> str:
    """A uid stable for an unchanged graph: the operator's name and its upstream path."""
    path: list[str] = []

    def walk(x: Transformation) -> None:
        path.append(f"{x.kind}:{x.name}:{x.id}")
        for i in x.inputs:
            walk(i)

    walk(t)
    return hashlib.sha1("|".join(path).encode()).hexdigest()[:16]


def execution_plan_json(graph: JobGraph) -> str:
    """The job graph as JSON, in the shape of Flink's ``getExecutionPlan``."""
    stream_nodes = [n for v in graph.vertices for n in v.nodes]
    plan = {
        "name": graph.name,
        "nodes": [
            {
                "id": n.id,
                "type": n.kind,
                "pact": {"source": "Data Source", "sink": "Data Sink"}.get(n.kind, "Operator"),
                "contents": n.name,
                **({"description": n.transformation.description} if n.transformation.description else {}),
                "uid": n.uid,
                "parallelism": n.parallelism,
                "max_parallelism": n.max_parallelism,
                "chain": _vertex_of(graph, n).id,
                "predecessors": [
                    {"id": e.source.id, "ship_strategy": e.partitioner.value,
                     "side": "second" if e.input_index else "first",
                     "chained": e.chained,
                     **({"side_output": getattr(e.side_tag, "tag_id", str(e.side_tag))}
                        if e.side_tag is not None else {})}
                    for e in n.in_edges
                ],
            }
            for n in stream_nodes
        ],
        "tasks": [
            {"id": v.id, "name": v.name, "parallelism": v.parallelism,
             "operators": [n.id for n in v.nodes]}
            for v in graph.vertices
        ],
    }
    return json.dumps(plan, indent=2)


def _vertex_of(graph: JobGraph, node: StreamNode) -> JobVertex:
    for v in graph.vertices:
        if node in v.nodes:
            return v
    raise KeyError(node.id)
