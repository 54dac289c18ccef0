"""PyFlink-shaped ``rayflink.cep``: complex event processing over keyed event-time streams."""

from rayflink.cep.cep import CEP, PatternStream
from rayflink.cep.conditions import Context, IterativeCondition, SimpleCondition
from rayflink.cep.functions import (
    PatternFlatSelectFunction,
    PatternFlatTimeoutFunction,
    PatternProcessFunction,
    PatternSelectFunction,
    PatternTimeoutFunction,
    TimedOutPartialMatchHandler,
)
from rayflink.cep.pattern import GroupPattern, MalformedPatternException, Pattern, Quantifier
from rayflink.cep.skip import AfterMatchSkipStrategy

__all__ = [
    "CEP", "AfterMatchSkipStrategy", "Context", "GroupPattern", "IterativeCondition", "MalformedPatternException",
    "Pattern",
    "PatternFlatSelectFunction", "PatternFlatTimeoutFunction", "PatternProcessFunction", "PatternSelectFunction",
    "PatternStream", "PatternTimeoutFunction", "Quantifier", "SimpleCondition", "TimedOutPartialMatchHandler",
]
