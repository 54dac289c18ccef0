"""Python scalar functions for SQL and the Table API, at PyFlink's path ``pyflink.table.udf``.

>>> @udf(result_type=DataTypes.BIGINT())
... def add(i, j):
...     return i + j
>>> t_env.create_temporary_function("add", add)
>>> t_env.execute_sql("SELECT add(a, b) FROM t")

A ``general`` function is called once per row with the row's values (None for NULL); a
``pandas`` one once per batch with a ``pandas.Series`` per argument, returning a Series (or
anything ``pyarrow.array`` takes) of the batch's length. ``open(function_context)`` runs once in
each subtask before the first call. SQL registers a function of a module with
``CREATE TEMPORARY [SYSTEM] FUNCTION name AS 'module.attribute' [LANGUAGE PYTHON]``.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable
from typing import Any

import pyarrow as pa

from rayflink.sql.errors import SqlValidationError
from rayflink.table.types import DataType

__all__ = ["FunctionContext", "ScalarFunction", "UserDefinedFunction", "UserDefinedScalarFunctionWrapper", "udf"]


class FunctionContext:
    """What ``open()`` receives: the job parameters (PyFlink's ``FunctionContext``)."""

    def __init__(self, job_parameters: dict[str, str] | None = None) -> None:
        self._parameters = dict(job_parameters or {})

    def get_job_parameter(self, key: str, default_value: str) -> str:
        return self._parameters.get(key, default_value)


class UserDefinedFunction:
    """The base of user-defined functions: ``open`` and ``close`` around the calls."""

    def open(self, function_context: FunctionContext) -> None:
        pass

    def close(self) -> None:
        pass

    def is_deterministic(self) -> bool:
        return True


class ScalarFunction(UserDefinedFunction):
    """Subclass and define ``eval(*args)``: one value per row."""

    def eval(self, *args: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__}.eval(*args) is not defined")


def _sql_type(name: str) -> DataType:
    """The DataType of a SQL type's name (``'STRING'``, ``'DECIMAL(10, 2)'``)."""
    from sqlglot import exp
    from sqlglot.errors import ParseError

    from rayflink.sql.dialect import Flink
    from rayflink.sql.types import arrow_type

    try:
        return DataType(arrow_type(exp.DataType.build(name, dialect=Flink)))
    except (ParseError, ValueError, KeyError, SqlValidationError) as exc:
        raise TypeError(f"udf: result_type {name!r} is not a SQL type: {exc}") from None


class UserDefinedScalarFunctionWrapper:
    """A function made by ``udf(...)``: what SQL calls, with its result type and kind."""

    def __init__(self, func: Callable | ScalarFunction, input_types: Any, result_type: DataType,
                 func_type: str, deterministic: bool | None, name: str | None) -> None:
        if isinstance(result_type, str):  # a SQL type's name, as PyFlink takes it: 'string', 'BIGINT'
            result_type = _sql_type(result_type)
        if not isinstance(result_type, DataType):
            raise TypeError(f"udf: result_type must be a DataTypes type such as DataTypes.BIGINT() or a SQL "
                            f"type's name such as 'BIGINT', got {result_type!r}")
        if func_type not in ("general", "pandas"):
            raise ValueError(f"udf: func_type {func_type!r} is not 'general' or 'pandas'")
        if func_type == "pandas":
            try:
                import pandas  # noqa: F401 - checked here, used in the tasks
            except ImportError:
                raise ImportError("udf(..., func_type='pandas') needs pandas: pip install 'rayflink[pandas]'") from None
        self._func = func
        self._input_types = input_types
        self._result_type = result_type
        self._func_type = func_type
        self._deterministic = deterministic if deterministic is not None else (
            func.is_deterministic() if isinstance(func, UserDefinedFunction) else True)
        self._name = name or getattr(func, "__name__", type(func).__name__)
        self._opened = False

    @property
    def result_type(self) -> pa.DataType:
        return self._result_type.arrow

    def __repr__(self) -> str:  # how plans print the call
        return str(self._name)

    def __call__(self, *args: Any) -> Any:
        """Called from Python (the Table API's ``add(col('a'), col('b'))``): the call expression."""
        from rayflink.table.expressions import call

        return call(self, *args)

    def _call(self) -> Callable:
        if not self._opened:
            if isinstance(self._func, UserDefinedFunction):
                self._func.open(FunctionContext())
            self._opened = True
        return self._func.eval if isinstance(self._func, ScalarFunction) else self._func

    def evaluate(self, args: list, rows: int) -> pa.Array:
        """The function over ``rows`` rows: ``args`` are Arrow arrays or scalars (constants)."""
        if rows == 0:
            return pa.array([], type=self.result_type)
        fn = self._call()
        if self._func_type == "pandas":
            series = [(a if isinstance(a, (pa.Array, pa.ChunkedArray)) else pa.array([a.as_py()] * rows,
                                                                                   type=a.type)).to_pandas()
                      for a in args]
            out = fn(*series)
            return pa.array(out, type=self.result_type)
        columns = [a.to_pylist() if isinstance(a, (pa.Array, pa.ChunkedArray)) else [a.as_py()] * rows for a in args]
        values = []
        for row in zip(*columns) if columns else [()] * rows:
            try:
                values.append(fn(*row))
            except Exception as exc:
                raise RuntimeError(f"function {self._name}{row!r} raised {type(exc).__name__}: {exc}") from exc
        try:
            return pa.array(values, type=self.result_type)
        except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
            bad = next((v for v in values if not _fits(v, self.result_type)), values[0])
            raise SqlValidationError(f"function {self._name} returned {bad!r}, which is not its result type "
                                     f"{self._result_type.sql()} ({exc})") from None


def _fits(value: Any, t: pa.DataType) -> bool:
    try:
        pa.array([value], type=t)
        return True
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return False


def udf(f: Callable | ScalarFunction | None = None, input_types: Any = None, result_type: DataType | None = None,
        deterministic: bool | None = None, name: str | None = None, func_type: str = "general",
        udf_type: str | None = None) -> Any:
    """A scalar function for SQL: ``udf(fn, result_type=...)`` or ``@udf(result_type=...)``."""
    kind = udf_type or func_type
    if result_type is None:
        raise TypeError("udf: result_type is required, e.g. @udf(result_type=DataTypes.BIGINT())")
    if f is None:
        return functools.partial(udf, input_types=input_types, result_type=result_type, deterministic=deterministic,
                                 name=name, func_type=kind)
    return UserDefinedScalarFunctionWrapper(f, input_types, result_type, kind, deterministic, name)


def load_function(path: str, name: str) -> UserDefinedScalarFunctionWrapper:
    """``CREATE FUNCTION name AS 'module.attribute'``: the udf (or ScalarFunction class) at ``path``."""
    module_name, _, attribute = path.rpartition(".")
    try:
        obj = getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError, ValueError) as exc:
        raise SqlValidationError(f"CREATE FUNCTION {name}: cannot load {path!r} ({type(exc).__name__}: {exc}); "
                                 "give 'module.attribute' of an importable module") from None
    if not isinstance(obj, UserDefinedScalarFunctionWrapper):
        raise SqlValidationError(f"CREATE FUNCTION {name}: {path!r} is {type(obj).__name__}, not a function made "
                                 "by udf(..., result_type=...)")
    return obj
