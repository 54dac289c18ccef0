"""Transformations -> stream graph -> job graph (operator chaining)."""
