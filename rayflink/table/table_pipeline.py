"""PyFlink's ``TablePipeline`` (``pyflink.table.table_pipeline``): ``Table.insert_into``'s result."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rayflink.sql.logical import Sink
from rayflink.sql.optimizer import explain
from rayflink.table.table_result import TableResult

if TYPE_CHECKING:
    from rayflink.table.table_environment import TableEnvironment

__all__ = ["TablePipeline"]


class TablePipeline:
    """An insert of a table's rows into a sink table, planned and not yet run
    (``Table.insert_into``): ``execute()`` runs it, ``explain()`` shows its plan."""

    def __init__(self, t_env: TableEnvironment, sink: Sink) -> None:
        self._t_env = t_env
        self._sink = sink

    def execute(self) -> TableResult:
        """Run the insert as one job (``.wait()`` blocks until it ends)."""
        return self._t_env._run([self._sink], f"insert-into_{self._sink.table.name}")

    def explain(self) -> str:
        return explain(self._sink)

    def print_explain(self) -> None:
        print(self.explain())

    def get_sink_identifier(self) -> str:
        """The sink table's name in the catalog."""
        return self._sink.table.name

    def __str__(self) -> str:
        return self.explain()
