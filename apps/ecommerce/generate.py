"""The e-commerce data generator: clicks, purchases and product updates, with their ground truth.

Everything is a function of the seed and of the second of event time (a *tick*), so a run can be
replayed exactly, split across source subtasks, and checked against the ground truth it records:

- **Users and products** are drawn from Zipf distributions (a few users and products are much more
  active than the rest); a user lives in one region (weighted); a product has a category and a
  price tier (0.5% are premium, priced above $500, all in the
  least popular quarter: a rare organic purchase over $500).
- **Rates** follow a time-of-day shape (a sine over the configured day, 0.6x to 1.4x of the mean)
  so that the same minute of consecutive days is comparable.
- **Sessions**: most purchases follow a click on the same product by the same user, minutes
  before (exponential, mean 6 minutes, cut at 40: some fall outside the 30-minute conversion join);
  the others are bought without a click. Organic clicks make up the rest of the click rate.
- **Product updates** (sporadic) change a price by up to 15%; a change made at ``t`` is valid from
  ``t + price_lead_ms`` (prices are published ahead), so the products CDC stream can run ahead of
  the purchases that need it.
- **Fraud bursts**: a quiet user (outside the top 10% of the Zipf) buys three premium products
  (each over $500) within 4 minutes.
- **Revenue dips**: from the second day on, ``dips_per_day`` (region, minute) pairs lose
  ``1 - dip_factor`` of their purchases.
- **Event time**: 10% of the events carry a timestamp up to ``max_delay_ms`` older than the moment
  they are emitted (never before ``start_ms``), so streams are out of order by at most that much.

Use it in-process (``GeneratorSource``, a rayflink ``Source``), offline (``ground_truth``), or as
a writer to Kafka topics ``clicks``/``purchases`` and a MariaDB/MySQL ``products`` table::

    python -m rayflink.apps.ecommerce.generate --help
"""

from __future__ import annotations

import argparse
import bisect
import itertools
import json
import math
import random
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from rayflink.common.config_options import parse_duration_ms
from rayflink.datastream.connectors.base import Source, SourceReader, SourceSplit, SplitBatch
from rayflink.errors import ConfigurationError

REGIONS = ("us-east", "us-west", "eu-west", "eu-central", "ap-south")
REGION_WEIGHTS = (0.30, 0.20, 0.20, 0.15, 0.15)
CATEGORIES = ("electronics", "fashion", "home", "books", "toys", "sports", "beauty", "grocery")
MINUTE_MS = 60_000
TICK_MS = 1_000
SESSION_DELAY_MEAN_S = 360.0
SESSION_DELAY_MAX_S = 2_400
FRAUD_BLOCK_S = 600
FRAUD_SPAN_MS = 240_000
NORMAL_PRICE = (2.0, 450.0)
PREMIUM_PRICE = (510.0, 2_000.0)
_CLICKS, _PURCHASES, _SESSIONS, _FRAUD, _DIPS, _UPDATES, _CATALOG, _USERS = range(8)


def as_millis(key: str, value: Any) -> int:
    """A duration option (``"5 min"``, ``"30 s"``, ``1000``) in milliseconds, or a named error."""
    try:
        return parse_duration_ms(value)
    except ValueError:
        raise ConfigurationError(f"option {key!r}: {value!r} is not a duration", key=key, value=value,
                                 accepted="a duration such as '5 min', '30 s', '2 h' or milliseconds") from None


@dataclass(frozen=True)
class GeneratorConfig:
    """What the generator makes; rates are per second of event time.

    >>> cfg = GeneratorConfig(seed=7, duration_s=1_200, day_ms=600_000)
    >>> truth = ground_truth(cfg)
    """

    seed: int = 7
    start_ms: int = 1_764_547_200_000  # 2025-12-01T00:00:00Z: the start of a day
    duration_s: int | None = 1_800  # seconds of event time; None: unbounded
    clicks_per_second: float = 200.0
    purchases_per_second: float = 20.0
    users: int = 100_000
    products: int = 2_000
    user_zipf: float = 0.7
    product_zipf: float = 1.0
    day_ms: int = 86_400_000
    converting_share: float = 0.7  # of purchases, those that follow a session's click
    fraud_bursts_per_hour: float = 6.0
    dips_per_day: int = 3
    dip_factor: float = 0.3  # a dipped minute keeps this share of its purchases
    product_updates_per_minute: float = 2.0
    price_lead_ms: int = 60_000
    max_delay_ms: int = 2_000

    def __post_init__(self) -> None:
        if self.start_ms % MINUTE_MS:
            raise ValueError(f"GeneratorConfig.start_ms must be a whole minute, got {self.start_ms}")
        if self.day_ms % MINUTE_MS or self.day_ms < 2 * MINUTE_MS:
            raise ValueError(f"GeneratorConfig.day_ms must be whole minutes (>= 2), got {self.day_ms}")
        if self.duration_s is not None and self.duration_s <= 0:
            raise ValueError(f"GeneratorConfig.duration_s must be > 0 or None, got {self.duration_s}")
        for name in ("clicks_per_second", "purchases_per_second"):
            if getattr(self, name) < 0:
                raise ValueError(f"GeneratorConfig.{name} must be >= 0, got {getattr(self, name)}")
        if self.max_delay_ms < 0 or self.max_delay_ms >= TICK_MS * 10:
            raise ValueError(f"GeneratorConfig.max_delay_ms must be in [0, 10000), got {self.max_delay_ms}")

    @property
    def end_ms(self) -> int | None:
        return None if self.duration_s is None else self.start_ms + self.duration_s * TICK_MS

    @staticmethod
    def from_options(options: dict[str, Any], prefix: str = "ecommerce.generator.") -> "GeneratorConfig":
        """The config from flat options (``ecommerce.generator.clicks-per-second: 500``)."""
        known = {f.name: f for f in fields(GeneratorConfig)}
        values: dict[str, Any] = {}
        for key, value in options.items():
            if not key.startswith(prefix):
                continue
            name = key[len(prefix):].replace("-", "_")
            if name == "duration":
                values["duration_s"] = None if value in (None, "", "unbounded") else as_millis(key, value) // 1000
            elif name == "day":
                values["day_ms"] = as_millis(key, value)
            elif name in known:
                values[name] = _coerce(key, value, known[name].type)
            else:
                raise ValueError(f"unknown option {key!r}; known: "
                                 f"{', '.join(prefix + n.replace('_', '-') for n in known)}")
        return GeneratorConfig(**values)


def _coerce(key: str, value: Any, kind: Any) -> Any:
    text = str(kind)
    try:
        if "float" in text:
            return float(value)
        if "int" in text:
            return None if value in (None, "") and "None" in text else int(value)
    except (TypeError, ValueError):
        raise ValueError(f"option {key!r}: {value!r} is not a number") from None
    return value


def _rng(cfg: GeneratorConfig, stream: int, index: int) -> random.Random:
    return random.Random((cfg.seed * 1_000_003 + stream) * 10_000_019 + index)


def _count(rng: random.Random, mean: float) -> int:
    whole = int(mean)
    return whole + (rng.random() < mean - whole)


def _zipf_cdf(n: int, s: float) -> list[float]:
    return list(itertools.accumulate(k ** -s for k in range(1, n + 1)))


def shape(cfg: GeneratorConfig, t_ms: int) -> float:
    """The time-of-day factor of the rates at ``t_ms`` (0.6 .. 1.4)."""
    phase = ((t_ms - cfg.start_ms) % cfg.day_ms) / cfg.day_ms
    return 1.0 + 0.4 * math.sin(2 * math.pi * phase - math.pi / 2)


@dataclass
class GroundTruth:
    """What a run contains: per-(region, minute) revenue in cents and counts, the injected fraud
    bursts and revenue dips. ``record`` builds it from the events as they are emitted."""

    revenue_cents: dict = field(default_factory=lambda: defaultdict(int))  # (region, minute_ms) -> cents
    purchases: dict = field(default_factory=lambda: defaultdict(int))  # (region, minute_ms) -> count
    clicks: dict = field(default_factory=lambda: defaultdict(int))  # (region, minute_ms) -> count
    fraud_bursts: list = field(default_factory=list)  # {"user_id", "purchase_ids", "first_ts", "last_ts"}
    dips: set = field(default_factory=set)  # (region, minute_ms)

    def record(self, events: list[dict]) -> None:
        for e in events:
            kind = e["type"]
            if kind == "purchase":
                key = (e["region"], e["ts"] - e["ts"] % MINUTE_MS)
                self.revenue_cents[key] += cents(e["amount"])
                self.purchases[key] += 1
            elif kind == "click":
                self.clicks[(e["region"], e["ts"] - e["ts"] % MINUTE_MS)] += 1

    def to_json(self) -> dict:
        return {"revenue_cents": [[r, m, c] for (r, m), c in sorted(self.revenue_cents.items())],
                "purchases": [[r, m, c] for (r, m), c in sorted(self.purchases.items())],
                "clicks": [[r, m, c] for (r, m), c in sorted(self.clicks.items())],
                "fraud_bursts": self.fraud_bursts, "dips": sorted(self.dips)}

    @staticmethod
    def from_json(data: dict) -> "GroundTruth":
        truth = GroundTruth()
        for name in ("revenue_cents", "purchases", "clicks"):
            getattr(truth, name).update({(r, m): c for r, m, c in data[name]})
        truth.fraud_bursts = data["fraud_bursts"]
        truth.dips = {(r, m) for r, m in data["dips"]}
        return truth


def cents(amount: float) -> int:
    """An amount in dollars as whole cents (sums of cents are exact)."""
    return int(round(amount * 100))


class EventGenerator:
    """Makes the events of each tick, in tick order (one instance per reader)."""

    def __init__(self, cfg: GeneratorConfig, kinds: tuple[str, ...] = ("click", "purchase", "product")) -> None:
        self.cfg = cfg
        self.kinds = frozenset(kinds)
        self._user_cdf = _zipf_cdf(cfg.users, cfg.user_zipf)
        self._product_cdf = _zipf_cdf(cfg.products, cfg.product_zipf)
        self._user_total, self._product_total = self._user_cdf[-1], self._product_cdf[-1]
        rng = _rng(cfg, _USERS, 0)
        self._user_region = rng.choices(range(len(REGIONS)), REGION_WEIGHTS, k=cfg.users)
        rng = _rng(cfg, _CATALOG, 0)
        self.catalog: list[dict] = []
        for p in range(cfg.products):
            premium = p >= cfg.products * 3 // 4 and rng.random() < 0.02  # premium products are niche
            lo, hi = PREMIUM_PRICE if premium else NORMAL_PRICE
            price = rng.uniform(lo, hi) if premium else min(hi, max(lo, rng.lognormvariate(math.log(25), 0.7)))
            category = CATEGORIES[rng.randrange(len(CATEGORIES))]
            self.catalog.append({"product_id": p, "name": f"{category}-{p:05d}", "category": category,
                                 "premium": premium, "price": round(price, 2)})
        self.premium = [p["product_id"] for p in self.catalog if p["premium"]]
        # product -> [(valid_from, price, version)], grown minute by minute
        self._versions = {p["product_id"]: [(0, p["price"], 0)] for p in self.catalog}
        self._current = {p["product_id"]: (p["price"], 0) for p in self.catalog}
        self._updates_until = -1  # last minute whose updates are in _versions
        self._updates: dict[int, list[dict]] = {}
        self._sessions: dict[int, tuple[dict, dict]] = {}
        self._fraud: dict[int, dict] = {}
        self._dips: dict[int, set] = {}

    # -- draws ----------------------------------------------------------------------------------

    def _user(self, rng: random.Random) -> int:
        return bisect.bisect_left(self._user_cdf, rng.random() * self._user_total)

    def _product(self, rng: random.Random) -> int:
        return bisect.bisect_left(self._product_cdf, rng.random() * self._product_total)

    def _ts(self, rng: random.Random, emitted_ms: int) -> int:
        x = rng.random()
        return max(self.cfg.start_ms, emitted_ms - int(x * 10 * (self.cfg.max_delay_ms + 1))) if x < 0.1 \
            else emitted_ms

    def region_of(self, user_id: int) -> str:
        return REGIONS[self._user_region[user_id]]

    # -- products ---------------------------------------------------------------------------------

    def initial_products(self) -> list[dict]:
        """The catalog before any update (version 0, valid from the beginning of time)."""
        return [self.product_row(p["product_id"], p["price"], 0, 0, self.cfg.start_ms) for p in self.catalog]

    def product_row(self, product_id: int, price: float, version: int, valid_from: int, updated_at: int) -> dict:
        p = self.catalog[product_id]
        return {"product_id": product_id, "name": p["name"], "category": p["category"], "price": price,
                "version": version, "valid_from": valid_from, "updated_at": updated_at}

    def _advance_updates(self, minute: int) -> None:
        cfg = self.cfg
        while self._updates_until < minute:
            m = self._updates_until = self._updates_until + 1
            rng = _rng(cfg, _UPDATES, m)
            made = sorted(cfg.start_ms + m * MINUTE_MS + rng.randrange(MINUTE_MS)
                          for _ in range(_count(rng, cfg.product_updates_per_minute)))
            rows = []
            for made_at in made:
                pid = rng.randrange(cfg.products)
                price, version = self._current[pid]
                lo, hi = PREMIUM_PRICE if self.catalog[pid]["premium"] else NORMAL_PRICE
                new_price = round(min(hi, max(lo, price * rng.uniform(0.85, 1.15))), 2)
                self._current[pid] = (new_price, version + 1)
                valid_from = made_at + cfg.price_lead_ms
                self._versions[pid].append((valid_from, new_price, version + 1))
                rows.append(self.product_row(pid, new_price, version + 1, valid_from, made_at))
            self._updates[m] = rows
            self._updates.pop(m - 3, None)

    def version_at(self, product_id: int, ts: int) -> tuple[float, int]:
        """``(price, version)`` of the product valid at event time ``ts``."""
        versions = self._versions[product_id]
        i = bisect.bisect_right(versions, (ts, math.inf, math.inf)) - 1
        return versions[i][1], versions[i][2]

    # -- schedules --------------------------------------------------------------------------------

    def dips_of_day(self, day: int) -> set:
        """The (region index, minute of day) pairs dipped on ``day`` (none on day 0)."""
        if day <= 0 or self.cfg.dips_per_day <= 0:
            return set()
        if day not in self._dips:
            before = self.dips_of_day(day - 1)
            rng = _rng(self.cfg, _DIPS, day)
            minutes = self.cfg.day_ms // MINUTE_MS
            chosen: set = set()
            while len(chosen) < min(self.cfg.dips_per_day, minutes - 2):
                pick = (rng.randrange(len(REGIONS)), 1 + rng.randrange(minutes - 2))
                if pick not in before:
                    chosen.add(pick)
            self._dips[day] = chosen
            self._dips.pop(day - 3, None)
        return self._dips[day]

    def dipped(self, region_index: int, ts: int) -> bool:
        offset = ts - self.cfg.start_ms
        return (region_index, (offset % self.cfg.day_ms) // MINUTE_MS) in self.dips_of_day(offset // self.cfg.day_ms)

    def _session_block(self, block: int) -> tuple[dict, dict]:
        """Minute ``block``'s converting sessions: (clicks by emission second, purchases by second)."""
        if block not in self._sessions:
            cfg = self.cfg
            rng = _rng(cfg, _SESSIONS, block)
            t0 = cfg.start_ms + block * MINUTE_MS
            n = _count(rng, cfg.purchases_per_second * cfg.converting_share * 60 * shape(cfg, t0))
            clicks: dict = defaultdict(list)
            buys: dict = defaultdict(list)
            for j in range(n):
                user, product = self._user(rng), self._product(rng)
                click_at = t0 + rng.randrange(MINUTE_MS)
                delay_ms = int(min(rng.expovariate(1 / SESSION_DELAY_MEAN_S), SESSION_DELAY_MAX_S) * 1000)
                buy_at = click_at + max(1000, delay_ms)
                quantity = _quantity(rng)
                click_ts, buy_ts, keep = self._ts(rng, click_at), self._ts(rng, buy_at), rng.random()
                clicks[(click_at - cfg.start_ms) // TICK_MS].append((f"s{block}-{j}", user, product, click_ts))
                buys[(buy_at - cfg.start_ms) // TICK_MS].append(
                    (f"s{block}-{j}", user, product, quantity, buy_ts, keep))
            self._sessions[block] = (dict(clicks), dict(buys))
            self._sessions.pop(block - SESSION_DELAY_MAX_S // 60 - 3, None)
        return self._sessions[block]

    def fraud_block(self, block: int) -> dict:
        """10-minute ``block``'s fraud bursts: {"bursts": [...], "by_tick": {tick: [purchase...]}}."""
        if block not in self._fraud:
            cfg = self.cfg
            rng = _rng(cfg, _FRAUD, block)
            t0 = cfg.start_ms + block * FRAUD_BLOCK_S * TICK_MS
            bursts, by_tick = [], defaultdict(list)
            for k in range(_count(rng, cfg.fraud_bursts_per_hour * FRAUD_BLOCK_S / 3600)):
                user = rng.randrange(max(1, cfg.users // 10), cfg.users)
                first = t0 + rng.randrange(FRAUD_BLOCK_S * TICK_MS)
                times = [first] + sorted(first + rng.randrange(FRAUD_SPAN_MS) for _ in range(2))
                products = [self.premium[rng.randrange(len(self.premium))] for _ in range(3)] if self.premium else []
                if not products or (cfg.end_ms is not None and times[-1] >= cfg.end_ms):
                    continue
                ids = [f"f{block}-{k}-{j}" for j in range(3)]
                bursts.append({"user_id": user, "purchase_ids": ids, "first_ts": times[0], "last_ts": times[-1]})
                for pid, product, at in zip(ids, products, times):
                    by_tick[(at - cfg.start_ms) // TICK_MS].append((pid, user, product, 1, at))
            self._fraud[block] = {"bursts": bursts, "by_tick": dict(by_tick)}
            self._fraud.pop(block - 3, None)
        return self._fraud[block]

    # -- ticks ------------------------------------------------------------------------------------

    def _purchase(self, pid: str, user: int, product: int, quantity: int, ts: int) -> dict:
        price, version = self.version_at(product, ts)
        return {"type": "purchase", "purchase_id": pid, "user_id": user, "product_id": product,
                "quantity": quantity, "amount": round(price * quantity, 2), "region": self.region_of(user), "ts": ts}

    def tick(self, s: int) -> list[dict]:
        """Every event emitted during second ``s`` of the run (timestamps up to max_delay_ms older)."""
        cfg = self.cfg
        t0 = cfg.start_ms + s * TICK_MS
        minute = s * TICK_MS // MINUTE_MS
        out: list[dict] = []
        if "product" in self.kinds or "purchase" in self.kinds:
            self._advance_updates(minute)
        if "product" in self.kinds:
            if s == 0:
                out.extend({"type": "product", "op": "r", "after": row, "ts": t0} for row in self.initial_products())
            out.extend({"type": "product", "op": "u", "after": row, "ts": row["updated_at"]}
                       for row in self._updates[minute] if row["updated_at"] // TICK_MS == t0 // TICK_MS)
        if "click" in self.kinds:
            rng = _rng(cfg, _CLICKS, s)
            session_clicks = self._session_block(minute)[0].get(s, ())
            organic = cfg.clicks_per_second * shape(cfg, t0) - len(session_clicks)
            for cid, user, product, ts in session_clicks:
                out.append({"type": "click", "click_id": cid, "user_id": user, "product_id": product,
                            "region": self.region_of(user), "ts": ts})
            rand, users, products = rng.random, self._user_cdf, self._product_cdf
            user_total, product_total, regions = self._user_total, self._product_total, self._user_region
            delay, start = 10 * (cfg.max_delay_ms + 1), cfg.start_ms
            for j in range(_count(rng, max(0.0, organic))):
                user = bisect.bisect_left(users, rand() * user_total)
                product = bisect.bisect_left(products, rand() * product_total)
                ts, x = t0 + int(rand() * TICK_MS), rand()
                out.append({"type": "click", "click_id": f"c{s}-{j}", "user_id": user, "product_id": product,
                            "region": REGIONS[regions[user]], "ts": max(start, ts - int(x * delay)) if x < 0.1 else ts})
        if "purchase" in self.kinds:
            rng = _rng(cfg, _PURCHASES, s)
            for block in range(minute - SESSION_DELAY_MAX_S // 60 - 1, minute + 1):  # < 0: clicks before the run
                for pid, user, product, quantity, ts, keep in self._session_block(block)[1].get(s, ()):
                    if not (self.dipped(self._user_region[user], ts) and keep >= cfg.dip_factor):
                        out.append(self._purchase(pid, user, product, quantity, ts))
            mean = cfg.purchases_per_second * (1 - cfg.converting_share) * shape(cfg, t0)
            for j in range(_count(rng, mean)):
                user, product, quantity = self._user(rng), self._product(rng), _quantity(rng)
                ts = self._ts(rng, t0 + int(rng.random() * TICK_MS))
                keep = rng.random()
                if not (self.dipped(self._user_region[user], ts) and keep >= cfg.dip_factor):
                    out.append(self._purchase(f"p{s}-{j}", user, product, quantity, ts))
            block = s // FRAUD_BLOCK_S
            for b in (block - 1, block):
                if b >= 0:
                    for pid, user, product, quantity, ts in self.fraud_block(b)["by_tick"].get(s, ()):
                        out.append(self._purchase(pid, user, product, quantity, ts))
        return out

    def ticks(self) -> Iterator[tuple[int, list[dict]]]:
        """``(second, events)`` for every tick of the run (forever when unbounded)."""
        s = 0
        while self.cfg.duration_s is None or s < self.cfg.duration_s:
            yield s, self.tick(s)
            s += 1


def _quantity(rng: random.Random) -> int:
    x = rng.random()
    return 1 if x < 0.8 else 2 if x < 0.95 else 3


def ground_truth(cfg: GeneratorConfig, events: Callable[[list[dict]], None] | None = None) -> GroundTruth:
    """The ground truth of a bounded run (``events(batch)`` also sees every tick's events)."""
    if cfg.duration_s is None:
        raise ValueError("ground_truth needs a bounded run: set GeneratorConfig.duration_s")
    gen = EventGenerator(cfg)
    truth = GroundTruth()
    for _s, batch in gen.ticks():
        truth.record(batch)
        if events is not None:
            events(batch)
    record_schedules(gen, truth)
    return truth


def record_schedules(gen: EventGenerator, truth: GroundTruth) -> None:
    """Add the injected fraud bursts and dips of the whole (bounded) run to ``truth``."""
    cfg = gen.cfg
    end = cfg.end_ms
    if end is None:
        raise ValueError("record_schedules needs a bounded run: GeneratorConfig.duration_s is None")
    for block in range(0, (end - cfg.start_ms) // (FRAUD_BLOCK_S * TICK_MS) + 1):
        truth.fraud_bursts.extend(gen.fraud_block(block)["bursts"])
    for day in range(1, (end - cfg.start_ms) // cfg.day_ms + 1):
        for region, minute_of_day in gen.dips_of_day(day):
            minute = cfg.start_ms + day * cfg.day_ms + minute_of_day * MINUTE_MS
            if minute + MINUTE_MS <= end:
                truth.dips.add((REGIONS[region], minute))


# -- the in-process source ----------------------------------------------------------------------


class GeneratorSource(Source):
    """The generator as a rayflink ``Source``: subtask i emits ticks i, i + p, i + 2p, ...

    ``ticks_per_second`` paces it (1.0: event time runs at wall-clock speed; None: as fast as
    the job takes them). ``kinds`` picks the events the job needs (``click``, ``purchase``,
    ``product``). Positions are checkpointed, so a restored job replays exactly.

    >>> src = GeneratorSource(GeneratorConfig(duration_s=600), kinds=("purchase",))
    >>> env.from_source(src, event_time_strategy(2_000), "generator")
    """

    def __init__(self, cfg: GeneratorConfig, kinds: tuple[str, ...] = ("click", "purchase", "product"),
                 ticks_per_second: float | None = None) -> None:
        unknown = set(kinds) - {"click", "purchase", "product"}
        if unknown:
            raise ValueError(f"GeneratorSource: unknown kinds {sorted(unknown)}; use click, purchase, product")
        self.cfg = cfg
        self.kinds = tuple(kinds)
        self.ticks_per_second = ticks_per_second

    def is_bounded(self) -> bool:
        return self.cfg.duration_s is not None

    def create_splits(self, parallelism: int) -> list[SourceSplit]:
        return [SourceSplit(f"ecommerce-{i}", (i, parallelism)) for i in range(parallelism)]

    def create_reader(self, splits: list[SourceSplit], subtask_index: int, parallelism: int) -> SourceReader:
        return _TickReader(self, splits)


class _TickReader(SourceReader):
    def __init__(self, source: GeneratorSource, splits: list[SourceSplit]) -> None:
        self._source = source
        self._gen = EventGenerator(source.cfg, source.kinds)
        self._splits = [[s.split_id, s.payload[0], s.payload[1]] for s in splits]
        self._opened, self._first = time.monotonic(), min((s[1] for s in self._splits), default=0)

    def _due(self) -> float:
        rate = self._source.ticks_per_second
        return math.inf if rate is None else self._first + (time.monotonic() - self._opened) * rate

    def poll(self, max_records: int) -> list[SplitBatch] | None:
        end = self._source.cfg.duration_s
        live = [s for s in self._splits if end is None or s[1] < end]
        if not live:
            return None
        out, n, due = [], 0, self._due()
        for split in live:
            split_id, s, step = split
            while n < max_records and s < due and (end is None or s < end):
                events = self._gen.tick(s)
                n += len(events)
                if events:
                    out.append(SplitBatch(split_id, events))
                s += step
            split[1] = s
        return out

    def wait_time(self) -> float:
        rate = self._source.ticks_per_second
        if rate is None:
            return 0.0
        nxt = min(s[1] for s in self._splits)
        return max(0.0, (nxt - self._first) / rate - (time.monotonic() - self._opened))

    def snapshot_state(self) -> list[SourceSplit]:
        return [SourceSplit(sid, (s, step)) for sid, s, step in self._splits]


# -- the writer to Kafka and MariaDB ------------------------------------------------------------

PRODUCTS_DDL = """CREATE TABLE IF NOT EXISTS products (
  product_id INT PRIMARY KEY, name VARCHAR(64) NOT NULL, category VARCHAR(32) NOT NULL,
  price DECIMAL(10, 2) NOT NULL, version INT NOT NULL, valid_from BIGINT NOT NULL, updated_at BIGINT NOT NULL)"""
_UPSERT = ("INSERT INTO products (product_id, name, category, price, version, valid_from, updated_at) "
           "VALUES (%s, %s, %s, %s, %s, %s, %s) ON DUPLICATE KEY UPDATE price = VALUES(price), "
           "version = VALUES(version), valid_from = VALUES(valid_from), updated_at = VALUES(updated_at)")


def _row_values(row: dict) -> tuple:
    return (row["product_id"], row["name"], row["category"], row["price"], row["version"], row["valid_from"],
            row["updated_at"])


def write_products_table(conn: Any, rows: list[dict]) -> None:
    """Create the ``products`` table if needed and upsert ``rows`` into it."""
    with conn.cursor() as cur:
        cur.execute(PRODUCTS_DDL)
        if rows:
            cur.executemany(_UPSERT, [_row_values(r) for r in rows])
    conn.commit()


@dataclass
class WriterStats:
    clicks: int = 0
    purchases: int = 0
    product_updates: int = 0
    seconds: float = 0.0
    behind_s: list = field(default_factory=list)  # (wall s since start, s the writer was behind its pace)


def write(cfg: GeneratorConfig, producer: Any, clicks_topic: str, purchases_topic: str, mysql: Any = None,
          ticks_per_second: float | None = 1.0, stop: Any = None,
          on_tick: Callable[[int, list[dict]], None] | None = None) -> tuple[GroundTruth, WriterStats]:
    """Write the run to Kafka (``producer``: a confluent_kafka Producer) and product updates to
    ``mysql`` (a DB-API connection, or None), at ``ticks_per_second`` (None: as fast as possible).

    Each record's key is its user id and its Kafka timestamp its event time. Returns the ground
    truth of what was written and the writer's statistics. ``stop`` (a threading.Event) ends an
    unbounded run.
    """
    gen = EventGenerator(cfg, ("click", "purchase", "product") if mysql is not None else ("click", "purchase"))
    truth, stats = GroundTruth(), WriterStats()
    if mysql is not None:
        write_products_table(mysql, gen.initial_products())
    started = time.monotonic()
    dumps = json.dumps
    for s, events in gen.ticks():
        if stop is not None and stop.is_set():
            break
        if ticks_per_second:
            ahead = s / ticks_per_second - (time.monotonic() - started)
            if ahead > 0:
                time.sleep(ahead)
            elif s % 10 == 0:
                stats.behind_s.append((round(time.monotonic() - started, 1), round(-ahead, 2)))
        updates = []
        for e in events:
            kind = e["type"]
            if kind == "product":
                if e["op"] == "u":
                    updates.append(e["after"])
                continue
            topic = clicks_topic if kind == "click" else purchases_topic
            while True:
                try:
                    producer.produce(topic, dumps(e).encode(), key=str(e["user_id"]).encode(), timestamp=e["ts"])
                    break
                except BufferError:
                    producer.poll(0.05)
            if kind == "click":
                stats.clicks += 1
            else:
                stats.purchases += 1
        producer.poll(0)
        if updates:
            write_products_table(mysql, updates)
            stats.product_updates += len(updates)
        truth.record(events)
        if on_tick is not None:
            on_tick(s, events)
    producer.flush()
    stats.seconds = time.monotonic() - started
    if cfg.duration_s is not None:
        record_schedules(gen, truth)
    return truth, stats


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m rayflink.apps.ecommerce.generate",
        description="Write generated clicks and purchases to Kafka and product updates to MariaDB/MySQL, "
                    "and the run's ground truth to a JSON file. Without --bootstrap-servers, only the ground "
                    "truth is computed.")
    defaults = GeneratorConfig()
    ap.add_argument("--seed", type=int, default=defaults.seed)
    ap.add_argument("--duration", type=int, default=defaults.duration_s,
                    help="seconds of event time to generate (0: unbounded, until Ctrl-C)")
    ap.add_argument("--clicks-per-second", type=float, default=defaults.clicks_per_second)
    ap.add_argument("--purchases-per-second", type=float, default=defaults.purchases_per_second)
    ap.add_argument("--users", type=int, default=defaults.users)
    ap.add_argument("--products", type=int, default=defaults.products)
    ap.add_argument("--day", type=int, default=defaults.day_ms // 1000, help="seconds in a day (e.g. 600 for tests)")
    ap.add_argument("--fraud-bursts-per-hour", type=float, default=defaults.fraud_bursts_per_hour)
    ap.add_argument("--dips-per-day", type=int, default=defaults.dips_per_day)
    ap.add_argument("--product-updates-per-minute", type=float, default=defaults.product_updates_per_minute)
    ap.add_argument("--start-ms", type=int, default=defaults.start_ms, help="event time of the first tick")
    ap.add_argument("--speed", type=float, default=1.0,
                    help="seconds of event time per wall-clock second (0: as fast as possible)")
    ap.add_argument("--bootstrap-servers", help="Kafka brokers (host:port); omit to only compute the ground truth")
    ap.add_argument("--clicks-topic", default="clicks")
    ap.add_argument("--purchases-topic", default="purchases")
    ap.add_argument("--mysql", metavar="HOST:PORT/DB", help="MariaDB/MySQL for the products table (user root)")
    ap.add_argument("--mysql-user", default="root")
    ap.add_argument("--mysql-password", default="")
    ap.add_argument("--truth", default="ground-truth.json", help="where to write the ground truth (JSON)")
    args = ap.parse_args(argv)
    cfg = GeneratorConfig(seed=args.seed, start_ms=args.start_ms, duration_s=args.duration or None,
                          clicks_per_second=args.clicks_per_second, purchases_per_second=args.purchases_per_second,
                          users=args.users, products=args.products, day_ms=args.day * 1000,
                          fraud_bursts_per_hour=args.fraud_bursts_per_hour, dips_per_day=args.dips_per_day,
                          product_updates_per_minute=args.product_updates_per_minute)
    if args.bootstrap_servers is None:
        truth = ground_truth(cfg)
    else:
        from confluent_kafka import Producer

        producer = Producer({"bootstrap.servers": args.bootstrap_servers, "linger.ms": 20, "enable.idempotence": True,
                             "queue.buffering.max.messages": 1_000_000, "compression.type": "lz4"})
        conn = None
        if args.mysql:
            import pymysql

            hostport, _, db = args.mysql.partition("/")
            host, _, port = hostport.partition(":")
            conn = pymysql.connect(host=host, port=int(port or 3306), user=args.mysql_user,
                                   password=args.mysql_password, database=db or "shop")
        try:
            truth, stats = write(cfg, producer, args.clicks_topic, args.purchases_topic, conn,
                                 ticks_per_second=args.speed or None)
        except KeyboardInterrupt:
            print("interrupted: the ground truth covers a bounded run only", file=sys.stderr)
            return 130
        print(f"wrote {stats.clicks:,} clicks, {stats.purchases:,} purchases, {stats.product_updates:,} product "
              f"updates in {stats.seconds:.1f} s")
    with open(args.truth, "w", encoding="utf-8") as f:
        json.dump({"config": asdict(cfg), **truth.to_json()}, f)
    print(f"ground truth: {len(truth.fraud_bursts)} fraud bursts, {len(truth.dips)} dips, "
          f"{sum(truth.purchases.values()):,} purchases -> {args.truth}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
