"""The apps' configuration: Flink's options plus the apps' own ``ecommerce.*`` keys, from YAML or the CLI.

Flink's keys (``parallelism.default``, ``execution.checkpointing.interval``, ...) go to the job's
environment as they would in any rayflink job. The apps read their own keys from the same
configuration, so ``rayflink run --conf revenue.yaml`` and ``-D ecommerce.fraud.count=4`` work
for both. Every key, its default and meaning is in ``OPTIONS``; ``describe()`` prints them.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass, fields, replace
from typing import Any

from rayflink.apps.ecommerce.generate import GeneratorConfig, as_millis
from rayflink.common.configuration import Configuration
from rayflink.errors import ConfigurationError

PREFIX = "ecommerce."


def _choice(*accepted: str) -> Callable[[str, Any], str]:
    def parse(key: str, value: Any) -> str:
        text = str(value).strip().lower()
        if text not in accepted:
            raise ConfigurationError(f"option {key!r}: {value!r} is not one of {', '.join(accepted)}", key=key,
                                     value=value, accepted=", ".join(accepted))
        return text
    return parse


def _number(kind: type) -> Callable[[str, Any], Any]:
    def parse(key: str, value: Any) -> Any:
        try:
            return kind(value)
        except (TypeError, ValueError):
            raise ConfigurationError(f"option {key!r}: {value!r} is not a {kind.__name__}", key=key, value=value,
                                     accepted=f"a {kind.__name__}") from None
    return parse


def _text(key: str, value: Any) -> str | None:
    return None if value in (None, "") else str(value)


def _flag(key: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text not in ("true", "false"):
        raise ConfigurationError(f"option {key!r}: {value!r} is not true or false", key=key, value=value,
                                 accepted="true, false")
    return text == "true"


def _rate(key: str, value: Any) -> float | None:
    rate = _number(float)(key, value)
    return rate or None


# key (after "ecommerce.") -> (AppConfig field, parser, default, what it is)
OPTIONS: dict[str, tuple[str, Callable[[str, Any], Any], Any, str]] = {
    "source": ("source", _choice("generator", "kafka"), "generator",
               "where clicks and purchases come from: the in-process generator or Kafka"),
    "products.source": ("products_source", _choice("generator", "mysql-cdc"), "generator",
                        "where product versions come from: the generator or the products table through CDC"),
    "day": ("day_ms", as_millis, "24 h", "the length of a day (the dip alert compares with a day before)"),
    "out-of-orderness": ("out_of_orderness_ms", as_millis, "2 s", "the watermarks' bound on out-of-order events"),
    "idleness": ("idleness_ms", as_millis, "5 s", "a split without events this long stops holding the watermark"),
    "generator.ticks-per-second": ("ticks_per_second", _rate, 0,
                                   "seconds of event time the in-process generator makes per second (0: no limit)"),
    "kafka.bootstrap-servers": ("kafka_servers", _text, "127.0.0.1:9092", "the Kafka brokers"),
    "kafka.clicks-topic": ("clicks_topic", _text, "clicks", "the clicks topic"),
    "kafka.purchases-topic": ("purchases_topic", _text, "purchases", "the purchases topic"),
    "kafka.alerts-topic": ("alerts_topic", _text, "fraud-alerts", "where fraud alerts go (exactly-once)"),
    "kafka.group-id": ("group_id", _text, "rayflink-ecommerce", "the consumer group (offsets are checkpointed)"),
    "kafka.starting-offsets": ("starting_offsets", _choice("earliest", "latest"), "earliest",
                               "where a job without a checkpoint starts reading"),
    "mysql.hostname": ("mysql_host", _text, "127.0.0.1", "MariaDB/MySQL with the products table"),
    "mysql.port": ("mysql_port", _number(int), 3306, "its port"),
    "mysql.database": ("mysql_database", _text, "shop", "the database of the products table"),
    "mysql.username": ("mysql_user", _text, "root", "a user with REPLICATION SLAVE and CLIENT"),
    "mysql.password": ("mysql_password", _text, "", "its password"),
    "sink.delta-path": ("delta_path", _text, "./ecommerce-output/delta", "the folder (or URI) of the Delta tables"),
    "sink.redis-url": ("redis_url", _text, "", "the dashboard's Redis (empty: the local dashboard folder)"),
    "sink.dashboard-path": ("dashboard_path", _text, "./ecommerce-output/dashboard",
                            "the local dashboard folder (JSON files), when no Redis is configured"),
    "sink.kafka-alerts": ("kafka_alerts", _flag, False, "write fraud alerts to the alerts topic"),
    "sink.print": ("print_results", _flag, True, "print alerts (and revenue in the revenue app)"),
    "dashboard.ttl": ("dashboard_ttl_ms", as_millis, "5 min", "how long a dashboard value lives in Redis"),
    "dashboard.key-prefix": ("dashboard_prefix", _text, "dashboard", "the prefix of the dashboard's Redis keys"),
    "revenue.window": ("window_ms", as_millis, "1 min", "the revenue and conversion window"),
    "revenue.dip-threshold": ("dip_threshold", _number(float), 0.3,
                              "alert when a minute's revenue is this share below the same minute a day before"),
    "conversion.within": ("conversion_within_ms", as_millis, "30 min", "a click converts if bought this soon"),
    "fraud.amount-threshold": ("fraud_threshold", _number(float), 500.0, "a purchase over this amount is large"),
    "fraud.count": ("fraud_count", _number(int), 3, "this many large purchases ..."),
    "fraud.within": ("fraud_within_ms", as_millis, "5 min", "... within this long, by one user, is fraud"),
}


@dataclass(frozen=True)
class AppConfig:
    """The apps' settings (see ``OPTIONS`` for keys and defaults) and the generator's."""

    source: str
    products_source: str
    day_ms: int
    out_of_orderness_ms: int
    idleness_ms: int
    ticks_per_second: float | None
    kafka_servers: str
    clicks_topic: str
    purchases_topic: str
    alerts_topic: str
    group_id: str
    starting_offsets: str
    mysql_host: str
    mysql_port: int
    mysql_database: str
    mysql_user: str
    mysql_password: str | None
    delta_path: str
    redis_url: str | None
    dashboard_path: str
    kafka_alerts: bool
    print_results: bool
    dashboard_ttl_ms: int
    dashboard_prefix: str
    window_ms: int
    dip_threshold: float
    conversion_within_ms: int
    fraud_threshold: float
    fraud_count: int
    fraud_within_ms: int
    generator: GeneratorConfig

    @staticmethod
    def from_options(options: dict[str, Any]) -> "AppConfig":
        """The settings from flat options (Flink keys are ignored here; unknown ``ecommerce.*`` keys raise)."""
        values = {name: parse(PREFIX + key, default) for key, (name, parse, default, _) in OPTIONS.items()}
        generator_keys = {}
        for key, value in options.items():
            if not key.startswith(PREFIX):
                continue
            short = key[len(PREFIX):]
            if short in OPTIONS:
                name, parse, _, _ = OPTIONS[short]
                values[name] = parse(key, value)
            elif short.startswith("generator."):
                generator_keys[key] = value
            else:
                raise ConfigurationError(f"unknown option {key!r}", key=key, value=value,
                                         accepted=", ".join(PREFIX + k for k in OPTIONS) + ", ecommerce.generator.*")
        try:
            generator = GeneratorConfig.from_options(generator_keys)
        except ValueError as exc:
            raise ConfigurationError(str(exc)) from None
        # one day for both: the generator's shape and dips, and the dip alert's comparison
        values["generator"] = replace(generator, day_ms=values["day_ms"])
        if values["day_ms"] % values["window_ms"]:
            raise ConfigurationError(f"option 'ecommerce.day' ({values['day_ms']} ms) must be a whole number of "
                                     f"windows ('ecommerce.revenue.window', {values['window_ms']} ms)",
                                     key="ecommerce.day", value=values["day_ms"])
        if values["out_of_orderness_ms"] < values["generator"].max_delay_ms:
            raise ConfigurationError(
                f"option 'ecommerce.out-of-orderness' ({values['out_of_orderness_ms']} ms) is below the generator's "
                f"max_delay_ms ({values['generator'].max_delay_ms}): events would be late",
                key="ecommerce.out-of-orderness", value=values["out_of_orderness_ms"])
        return AppConfig(**values)

    def options(self) -> dict[str, Any]:
        """This configuration as ``ecommerce.*`` options (what ``from_options`` reads back)."""
        out = {PREFIX + key: getattr(self, name) for key, (name, _, _, _) in OPTIONS.items()}
        for f in fields(GeneratorConfig):
            if f.name != "day_ms":
                value = getattr(self.generator, f.name)
                out[f"{PREFIX}generator.{f.name.replace('_', '-')}"] = "" if value is None else value
        out[PREFIX + "generator.ticks-per-second"] = self.ticks_per_second or 0
        return out


def describe() -> str:
    """Every ``ecommerce.*`` option as a Markdown table."""
    rows = ["| key | default | meaning |", "|---|---|---|"]
    rows += [f"| `{PREFIX}{k}` | `{d}` | {what} |" for k, (_, _, d, what) in OPTIONS.items()]
    rows.append(f"| `{PREFIX}generator.*` | | the generator's settings (`GeneratorConfig` fields, e.g. "
                "`clicks-per-second`, `duration`, `seed`) |")
    return "\n".join(rows)


def load(argv: list[str] | None, description: str,
         defaults: dict[str, Any] | None = None) -> tuple[Configuration, AppConfig, argparse.Namespace]:
    """The job's configuration: ``defaults``, the options ``rayflink run`` passed, then ``--conf FILE``
    and ``-D key=value``, each over the one before.

    Returns the Configuration for the environment (Flink's keys and the apps' own) and the apps'
    settings read from it.
    """
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--conf", help="a YAML configuration file (Flink's keys and ecommerce.*)")
    ap.add_argument("-D", dest="define", action="append", metavar="key=value", help="set an option")
    args = ap.parse_args(argv)
    conf = Configuration.from_yaml(args.conf) if args.conf else Configuration()
    for item in args.define or []:
        key, sep, value = item.partition("=")
        if not sep:
            raise ConfigurationError(f"-D takes key=value, got {item!r}")
        conf.set_string(key.strip(), value.strip())
    from rayflink.common.configuration import cli_options

    merged = Configuration(defaults or {}).add_all(Configuration(cli_options())).add_all(conf)
    return merged, AppConfig.from_options(merged.to_dict()), args


def app_main(job: Callable[[Any, AppConfig], Any], job_name: str,
             description: str) -> Callable[..., None]:
    """The ``main(argv=None)`` of an app: its configuration (``load``, ``description`` for ``--help``),
    ``job(env, cfg)`` on an environment of that configuration, executed as ``job_name``."""

    def main(argv: list[str] | None = None) -> None:
        """Run the app (blocks until a bounded source ends; ``rayflink run`` calls it as a script)."""
        from rayflink.datastream import StreamExecutionEnvironment

        conf, cfg, _ = load(argv, description)
        env = StreamExecutionEnvironment.get_execution_environment(conf)
        job(env, cfg)
        env.execute(job_name)

    return main
