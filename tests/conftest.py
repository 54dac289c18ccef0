"""rayflink's test suite: fixtures and the unit/integration split come from rayflink.testing's pytest plugin."""

pytest_plugins = ["rayflink.testing.pytest_plugin", "pytester"]
