"""rayflink's test suite: fixtures and the unit/integration split come from rayflink.testing's pytest plugin;
tests.mariadb_binlog adds the session's MariaDB with the binlog on (the CDC tests)."""

pytest_plugins = ["rayflink.testing.pytest_plugin", "pytester", "tests.mariadb_binlog"]
