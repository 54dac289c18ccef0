"""User-defined functions that SQL loads by name (CREATE TEMPORARY FUNCTION ... AS 'tests.sql.udfs.x')."""

from rayflink.table import DataTypes
from rayflink.table.udf import ScalarFunction, udf


class _Discount(ScalarFunction):
    def open(self, function_context):
        self.rate = float(function_context.get_job_parameter("discount", "0.1"))

    def eval(self, amount):
        return None if amount is None else round(amount * (1 - self.rate), 2)


discount = udf(_Discount(), result_type=DataTypes.DOUBLE())


@udf(result_type=DataTypes.STRING())
def tier(amount):
    return "high" if amount is not None and amount >= 100 else "low"
