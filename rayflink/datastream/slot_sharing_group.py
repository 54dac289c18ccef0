"""PyFlink's ``SlotSharingGroup`` and ``MemorySize`` (fine-grained resources).

``stream.slot_sharing_group(SlotSharingGroup.builder("heavy").set_cpu_cores(2).build())`` works as
with a name: operators in different groups are never chained together. The resources are
recorded, not reserved: rayflink's subtasks run as threads in task executor actors whose
resources the Ray cluster sets.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import total_ordering

__all__ = ["MemorySize", "SlotSharingGroup"]


@total_ordering
@dataclass(frozen=True)
class MemorySize:
    """A number of bytes, as Flink's ``MemorySize``.

    >>> MemorySize.of_mebi_bytes(64).get_kibi_bytes()
    65536
    """

    bytes_size: int

    def __post_init__(self) -> None:
        if not isinstance(self.bytes_size, int) or self.bytes_size < 0:
            raise ValueError(f"MemorySize({self.bytes_size!r}): expected an int number of bytes >= 0")

    @staticmethod
    def of_mebi_bytes(mebi_bytes: int) -> "MemorySize":
        return MemorySize(int(mebi_bytes) << 20)

    def get_bytes(self) -> int:
        return self.bytes_size

    def get_kibi_bytes(self) -> int:
        return self.bytes_size >> 10

    def get_mebi_bytes(self) -> int:
        return self.bytes_size >> 20

    def get_gibi_bytes(self) -> int:
        return self.bytes_size >> 30

    def get_tebi_bytes(self) -> int:
        return self.bytes_size >> 40

    def __lt__(self, other: "MemorySize") -> bool:
        return self.bytes_size < other.bytes_size

    def __str__(self) -> str:
        return f"{self.bytes_size} bytes"


@dataclass(frozen=True)
class SlotSharingGroup:
    """A named slot sharing group with (recorded) resource requirements."""

    name: str
    cpu_cores: float | None = None
    task_heap_memory: MemorySize | None = None
    task_off_heap_memory: MemorySize | None = None
    managed_memory: MemorySize | None = None
    external_resources: dict = field(default_factory=dict, hash=False)

    def get_name(self) -> str:
        return self.name

    def get_cpu_cores(self) -> float | None:
        return self.cpu_cores

    def get_task_heap_memory(self) -> MemorySize | None:
        return self.task_heap_memory

    def get_task_off_heap_memory(self) -> MemorySize | None:
        return self.task_off_heap_memory

    def get_managed_memory(self) -> MemorySize | None:
        return self.managed_memory

    def get_external_resources(self) -> dict:
        return dict(self.external_resources)

    @staticmethod
    def builder(name: str) -> "SlotSharingGroup.Builder":
        return SlotSharingGroup.Builder(name)

    class Builder:
        """``SlotSharingGroup.builder(name).set_cpu_cores(1.0).set_task_heap_memory_mb(100).build()``."""

        def __init__(self, name: str) -> None:
            if not isinstance(name, str) or not name:
                raise ValueError(f"SlotSharingGroup.builder({name!r}): the name must be a non-empty str")
            self._name = name
            self._args: dict = {"external_resources": {}}

        def set_cpu_cores(self, cpu_cores: float) -> "SlotSharingGroup.Builder":
            if cpu_cores <= 0:
                raise ValueError(f"SlotSharingGroup.Builder.set_cpu_cores({cpu_cores}): must be > 0")
            self._args["cpu_cores"] = float(cpu_cores)
            return self

        def set_task_heap_memory(self, task_heap_memory: MemorySize) -> "SlotSharingGroup.Builder":
            self._args["task_heap_memory"] = task_heap_memory
            return self

        def set_task_heap_memory_mb(self, task_heap_memory_mb: int) -> "SlotSharingGroup.Builder":
            return self.set_task_heap_memory(MemorySize.of_mebi_bytes(task_heap_memory_mb))

        def set_task_off_heap_memory(self, task_off_heap_memory: MemorySize) -> "SlotSharingGroup.Builder":
            self._args["task_off_heap_memory"] = task_off_heap_memory
            return self

        def set_task_off_heap_memory_mb(self, task_off_heap_memory_mb: int) -> "SlotSharingGroup.Builder":
            return self.set_task_off_heap_memory(MemorySize.of_mebi_bytes(task_off_heap_memory_mb))

        def set_managed_memory(self, managed_memory: MemorySize) -> "SlotSharingGroup.Builder":
            self._args["managed_memory"] = managed_memory
            return self

        def set_managed_memory_mb(self, managed_memory_mb: int) -> "SlotSharingGroup.Builder":
            return self.set_managed_memory(MemorySize.of_mebi_bytes(managed_memory_mb))

        def set_external_resource(self, name: str, value: float) -> "SlotSharingGroup.Builder":
            self._args["external_resources"][name] = float(value)
            return self

        def build(self) -> "SlotSharingGroup":
            return SlotSharingGroup(self._name, **self._args)
