"""Flink SQL for sqlglot: RisingWave's dialect (WATERMARK FOR, WITH options, computed columns and
NOT ENFORCED keys parse there already) plus what Flink adds: backquoted identifiers, ``TABLE t``
arguments of window table functions, METADATA columns, SESSION(...) as a function, and Flink's
own functions kept by name."""

from __future__ import annotations

import sqlglot
from sqlglot import exp
from sqlglot.dialects.risingwave import RisingWave
from sqlglot.parsers.risingwave import RisingWaveParser
from sqlglot.tokens import TokenType

# functions whose Postgres meaning differs from Flink's: kept as Anonymous, resolved by name
_FLINK_NAMED = ("TO_TIMESTAMP", "DATE_FORMAT", "TO_DATE", "SPLIT_INDEX")


class MetadataColumnConstraint(exp.Expression, exp.ColumnConstraintKind):
    """``METADATA [FROM 'key'] [VIRTUAL]``: a column the connector fills from record metadata."""

    arg_types = {"this": False, "virtual": False}


class FlinkParser(RisingWaveParser):
    """RisingWave's parser, with ``TABLE name`` accepted as a function argument and metadata columns."""

    FUNCTIONS = {k: v for k, v in RisingWaveParser.FUNCTIONS.items() if k not in _FLINK_NAMED}
    CONSTRAINT_PARSERS = {**RisingWaveParser.CONSTRAINT_PARSERS,
                          "METADATA": lambda self: self._parse_metadata()}

    def _parse_metadata(self) -> exp.Expr:
        key = self._parse_string() if self._match(TokenType.FROM) else None
        virtual = self._match_text_seq("VIRTUAL")
        return self.expression(MetadataColumnConstraint(this=key, virtual=virtual))

    def _parse_match_recognize(self) -> exp.MatchRecognize | None:
        """sqlglot's MATCH_RECOGNIZE, plus Flink's ``PATTERN (...) WITHIN INTERVAL ...`` (arg ``within``)."""
        self._within: exp.Expr | None = None
        node = super()._parse_match_recognize()
        if node is not None and self._within is not None:
            node.set("within", self._within)
        return node

    def _match_text_seq(self, *texts: str, advance: bool = True) -> bool:
        # DEFINE follows the pattern: a WITHIN between them is Flink's time constraint
        if texts == ("DEFINE",) and self._curr is not None and self._curr.text.upper() == "WITHIN":
            self._advance()
            self._within = self._parse_interval()
        return super()._match_text_seq(*texts, advance=advance)

    def parse(self, raw_tokens: list, sql: str) -> list[exp.Expr | None]:
        # Flink's ROW<name type, ...> is sqlglot's STRUCT<...> (ROW alone stays a keyword: CURRENT ROW)
        for token, following in zip(raw_tokens, raw_tokens[1:]):
            if token.token_type == TokenType.ROW and following.token_type == TokenType.LT:
                token.token_type = TokenType.STRUCT
        return super().parse(raw_tokens, sql)

    def _parse_lambda(self, alias: bool = False) -> exp.Expr | None:
        if (self._curr is not None and self._curr.token_type == TokenType.TABLE and self._next is not None
                and self._next.token_type in (TokenType.VAR, *self.ID_VAR_TOKENS)):
            self._advance()
            return self._parse_table_parts()
        return super()._parse_lambda(alias)


class Flink(RisingWave):
    """The dialect rayflink parses SQL with (``sqlglot.parse(sql, read=Flink)``)."""

    class Tokenizer(RisingWave.Tokenizer):
        IDENTIFIERS = ['"', "`"]
        # SESSION is Flink's session window function, not SET SESSION's keyword
        # FLOAT is Flink's 4-byte float (PostgreSQL's is DOUBLE)
        KEYWORDS = {**{k: v for k, v in RisingWave.Tokenizer.KEYWORDS.items() if k != "SESSION"},
                    "MATCH_RECOGNIZE": TokenType.MATCH_RECOGNIZE, "FLOAT": TokenType.FLOAT}

    Parser = FlinkParser


def parse(sql: str) -> list[exp.Expr]:
    """Parse a script of ``;``-separated Flink SQL statements (raises sqlglot's ParseError)."""
    return [s for s in sqlglot.parse(sql, read=Flink) if s is not None]


def parse_expression(sql: str) -> exp.Expr:
    """Parse one scalar expression (a computed column's or a watermark's)."""
    return sqlglot.parse_one(sql, read=Flink)
