"""Nexmark's events (Person, Auction, Bid), generated deterministically and written as JSON-lines files in
the layout of Nexmark's Flink ``kafka`` table (``event_type`` and one ``person``/``auction``/``bid``
ROW; ``dateTime`` as ``yyyy-MM-dd HH:mm:ss.SSS``).

The model is Nexmark's own (nexmark/nexmark, ``nexmark-flink/.../generator``, default
``NexmarkConfiguration``): events in epochs of 50 (1 person, 3 auctions, 46 bids), 10,000 events per
second of event time, ids from 1000, hot auctions, sellers and bidders (ratios 2, 4 and 4), 100
auctions in flight and 1,000 active people, auctions expiring within twice the time 100 auctions
take to be made, prices ``round(10 ** (u * 6) * 100)``, and ``extra`` padding each event to
Nexmark's average sizes (person 200, auction 500, bid 100 bytes). Random draws come from numpy
seeded by ``seed`` instead of Java's SplittableRandom, so the values differ from Nexmark's Java
generator while their distributions are the same.

Also what runs Nexmark's SQL files needs (bench/nexmark, tests/sql/test_nexmark.py): their
statements, a query's final result (the state its changelog ends in) and that result's digest.

    python -m rayflink.testing.nexmark --events 1000000 --out /tmp/nexmark/events
"""

from __future__ import annotations

import argparse
import datetime
import decimal
import hashlib
import json
import os
import re

import numpy as np

PERSON_PROPORTION, AUCTION_PROPORTION, BID_PROPORTION = 1, 3, 46
TOTAL_PROPORTION = PERSON_PROPORTION + AUCTION_PROPORTION + BID_PROPORTION
FIRST_ID, FIRST_CATEGORY_ID, NUM_CATEGORIES = 1000, 10, 5
INTER_EVENT_DELAY_US = 100  # 1e6 / firstEventRate (10,000 events/s)
HOT_AUCTION_RATIO, HOT_SELLERS_RATIO, HOT_BIDDERS_RATIO = 2, 4, 4
HOT_RATIO_BATCH = 100  # hot ids are the first (sellers) or second (bidders) of each 100
NUM_IN_FLIGHT_AUCTIONS, NUM_ACTIVE_PEOPLE, ID_LEAD = 100, 1000, 10
AVG_PERSON_BYTES, AVG_AUCTION_BYTES, AVG_BID_BYTES = 200, 500, 100
BASE_TIME_MS = 1_704_067_200_000  # 2024-01-01 00:00:00 UTC

US_STATES = "AZ,CA,ID,OR,WA,WY".split(",")
US_CITIES = "Phoenix,Los Angeles,San Francisco,Boise,Portland,Bend,Redmond,Seattle,Kent,Cheyenne".split(",")
FIRST_NAMES = "Peter,Paul,Luke,John,Saul,Vicky,Kate,Julie,Sarah,Deiter,Walter".split(",")
LAST_NAMES = "Shultz,Abrams,Spencer,White,Bartels,Walton,Smith,Jones,Noris".split(",")
HOT_CHANNELS = ["Google", "Facebook", "Baidu", "Apple"]
CHANNELS = 10_000


def timestamp_ms(event_number: np.ndarray) -> np.ndarray:
    return BASE_TIME_MS + event_number * INTER_EVENT_DELAY_US // 1000


def last_person(event_id: np.ndarray) -> np.ndarray:
    """Nexmark's lastBase0PersonId: the newest person at ``event_id``."""
    epoch, offset = np.divmod(event_id, TOTAL_PROPORTION)
    return epoch * PERSON_PROPORTION + np.minimum(offset, PERSON_PROPORTION - 1)


def last_auction(event_id: np.ndarray) -> np.ndarray:
    """Nexmark's lastBase0AuctionId: the newest auction at ``event_id``."""
    epoch, offset = np.divmod(event_id, TOTAL_PROPORTION)
    person = offset < PERSON_PROPORTION
    bid = offset >= PERSON_PROPORTION + AUCTION_PROPORTION
    epoch = np.where(person, epoch - 1, epoch)
    offset = np.where(person | bid, AUCTION_PROPORTION - 1, offset - PERSON_PROPORTION)
    return epoch * AUCTION_PROPORTION + offset


def next_person(event_id: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Nexmark's nextBase0PersonId: one of the active people, or a few ahead of the newest."""
    people = last_person(event_id) + 1
    active = np.minimum(people, NUM_ACTIVE_PEOPLE)
    return people - active + (rng.random(len(event_id)) * (active + ID_LEAD)).astype(np.int64)


def next_auction(event_id: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Nexmark's nextBase0AuctionId: one of the auctions likely in flight, or a few ahead."""
    newest = last_auction(event_id)
    oldest = np.maximum(newest - NUM_IN_FLIGHT_AUCTIONS, 0)
    return oldest + (rng.random(len(event_id)) * (newest - oldest + 1 + ID_LEAD)).astype(np.int64)


def prices(n: int, rng: np.random.Generator) -> np.ndarray:
    return np.round(10.0 ** (rng.random(n) * 6.0) * 100.0).astype(np.int64)


class Strings:
    """Random lowercase strings as substrings of one pool (Nexmark's nextExactString does the same
    for ``extra``; its nextString draws each character, which is too slow here for millions)."""

    def __init__(self, seed: int, rng: np.random.Generator) -> None:
        self.rng = rng  # the draws
        pool = np.random.default_rng(seed)
        letters = pool.integers(ord("a"), ord("z") + 1, 1 << 20, dtype=np.uint8)
        letters[pool.random(len(letters)) < 1 / 13] = ord(" ")
        self.pool = letters.tobytes().decode()

    def take(self, lengths: np.ndarray) -> list[str]:
        starts = self.rng.integers(0, len(self.pool) - 1024, len(lengths))
        return [self.pool[s:s + n].strip() for s, n in zip(starts.tolist(), lengths.tolist())]

    def strings(self, n: int, max_length: int) -> list[str]:
        """Nexmark's nextString: 3 to max_length - 1 characters."""
        return self.take(self.rng.integers(3, max_length, n))

    def extra(self, current_sizes: np.ndarray, average: int) -> list[str]:
        """Nexmark's nextExtra: pads an event to about ``average`` bytes (+-20 %)."""
        wanted = np.maximum(average - current_sizes, 0)
        delta = np.round(wanted * 0.2).astype(np.int64)
        sizes = wanted - delta + (self.rng.random(len(wanted)) * 2 * delta).astype(np.int64)
        return ["".join(s.split()) for s in self.take(sizes)]


def _time_text(ms: np.ndarray) -> list[str]:
    text = np.datetime_as_string(ms.astype("datetime64[ms]"), unit="ms")
    return [t.replace("T", " ") for t in text.tolist()]


def events(first: int, count: int, seed: int) -> list[str]:
    """JSON lines of events ``first`` .. ``first + count - 1`` (deterministic for ``seed`` and ``first``)."""
    rng = np.random.default_rng([seed, first])
    strings = Strings(seed, rng)
    ids = np.arange(first, first + count, dtype=np.int64)
    times = timestamp_ms(ids)
    kind = ids % TOTAL_PROPORTION
    lines: list[str | None] = [None] * count

    p = ids[kind < PERSON_PROPORTION]
    if len(p):
        names = [f"{FIRST_NAMES[a]} {LAST_NAMES[b]}" for a, b in zip(
            rng.integers(0, len(FIRST_NAMES), len(p)).tolist(), rng.integers(0, len(LAST_NAMES), len(p)).tolist())]
        emails = [f"{a}@{b}.com" for a, b in zip(strings.strings(len(p), 7), strings.strings(len(p), 5))]
        cards = [" ".join(f"{c:04d}" for c in row) for row in rng.integers(0, 10_000, (len(p), 4)).tolist()]
        cities = [US_CITIES[i] for i in rng.integers(0, len(US_CITIES), len(p)).tolist()]
        states = [US_STATES[i] for i in rng.integers(0, len(US_STATES), len(p)).tolist()]
        sizes = np.array([8 + len(a) + len(b) + len(c) + len(d) + len(e)
                          for a, b, c, d, e in zip(names, emails, cards, cities, states)])
        extras = strings.extra(sizes, AVG_PERSON_BYTES)
        person_ids = (last_person(p) + FIRST_ID).tolist()
        for i, row in enumerate(zip(person_ids, names, emails, cards, cities, states, _time_text(times[p - first]),
                                    extras)):
            lines[p[i] - first] = json.dumps({"event_type": 0, "person": dict(zip(
                ("id", "name", "emailAddress", "creditCard", "city", "state", "dateTime", "extra"), row)),
                "auction": None, "bid": None})

    a = ids[(kind >= PERSON_PROPORTION) & (kind < PERSON_PROPORTION + AUCTION_PROPORTION)]
    if len(a):
        n = len(a)
        hot = rng.integers(0, HOT_SELLERS_RATIO, n) > 0
        seller = np.where(hot, last_person(a) // HOT_RATIO_BATCH * HOT_RATIO_BATCH, next_person(a, rng)) + FIRST_ID
        category = FIRST_CATEGORY_ID + rng.integers(0, NUM_CATEGORIES, n)
        initial = prices(n, rng)
        reserve = initial + prices(n, rng)
        # an auction lasts up to twice the time NUM_IN_FLIGHT_AUCTIONS auctions take to be made
        horizon = (timestamp_ms(a + NUM_IN_FLIGHT_AUCTIONS * TOTAL_PROPORTION // AUCTION_PROPORTION)
                   - timestamp_ms(a))
        expires = times[a - first] + 1 + (rng.random(n) * np.maximum(horizon * 2, 1)).astype(np.int64)
        item_names, descriptions = strings.strings(n, 20), strings.strings(n, 100)
        sizes = np.array([8 + len(x) + len(y) + 40 for x, y in zip(item_names, descriptions)])
        extras = strings.extra(sizes, AVG_AUCTION_BYTES)
        auction_ids = (last_auction(a) + FIRST_ID).tolist()
        for i, row in enumerate(zip(auction_ids, item_names, descriptions, initial.tolist(), reserve.tolist(),
                                    _time_text(times[a - first]), _time_text(expires), seller.tolist(),
                                    category.tolist(), extras)):
            lines[a[i] - first] = json.dumps({"event_type": 1, "person": None, "auction": dict(zip(
                ("id", "itemName", "description", "initialBid", "reserve", "dateTime", "expires", "seller",
                 "category", "extra"), row)), "bid": None})

    b = ids[kind >= PERSON_PROPORTION + AUCTION_PROPORTION]
    if len(b):
        n = len(b)
        hot_auction = rng.integers(0, HOT_AUCTION_RATIO, n) > 0
        auction = np.where(hot_auction, last_auction(b) // HOT_RATIO_BATCH * HOT_RATIO_BATCH,
                           next_auction(b, rng)) + FIRST_ID
        hot_bidder = rng.integers(0, HOT_BIDDERS_RATIO, n) > 0
        # Nexmark's BidGenerator adds FIRST_PERSON_ID twice; kept so that bidders are Nexmark's
        bidder = np.where(hot_bidder, last_person(b) // HOT_RATIO_BATCH * HOT_RATIO_BATCH + 1,
                          next_person(b, rng)) + 2 * FIRST_ID
        price = prices(n, rng)
        url_rng = np.random.default_rng([seed, 7])
        urls = [_url(url_rng, strings) for _ in range(len(HOT_CHANNELS))]
        channel_urls = [_url(url_rng, strings) + (f"&channel_id={_reverse(i)}" if url_rng.random() < 0.9 else "")
                        for i in range(CHANNELS)]
        hot_channel = rng.integers(0, 2, n) > 0
        pick = rng.integers(0, len(HOT_CHANNELS), n).tolist()
        other = rng.integers(0, CHANNELS, n).tolist()
        extras = strings.extra(np.full(n, 32), AVG_BID_BYTES)
        for i, (auc, bidder_id, pr, hot_c, h, o, when, extra) in enumerate(zip(
                auction.tolist(), bidder.tolist(), price.tolist(), hot_channel.tolist(), pick, other,
                _time_text(times[b - first]), extras)):
            channel, url = (HOT_CHANNELS[h], urls[h]) if hot_c else (f"channel-{o}", channel_urls[o])
            lines[b[i] - first] = json.dumps({"event_type": 2, "person": None, "auction": None, "bid": {
                "auction": auc, "bidder": bidder_id, "price": pr, "channel": channel, "url": url,
                "dateTime": when, "extra": extra}})
    return lines  # type: ignore[return-value]


def _url(rng: np.random.Generator, strings: Strings) -> str:
    parts = ["".join(s.split()) or "x" for s in strings.take(rng.integers(3, 5, 3))]
    return "https://www.nexmark.com/" + "/".join(parts) + "/item.htm?query=1"


def _reverse(i: int) -> int:
    """Java's Math.abs(Integer.reverse(i))."""
    r = int(f"{i & 0xFFFFFFFF:032b}"[::-1], 2)
    return abs(r - (1 << 32) if r >= 1 << 31 else r)


def write(directory: str, count: int, seed: int = 42, files: int = 2, chunk: int = 200_000,
          progress: bool = False) -> str:
    """Write ``count`` events into ``files`` JSON-lines files in ``directory``, event ``i`` into file
    ``i % files`` (as Nexmark's Kafka sink spreads events over partitions round-robin), unless they
    are there already. Each file is in event-time order."""
    marker = os.path.join(directory, f".done-{count}-{seed}-{files}")
    if os.path.exists(marker):
        return directory
    os.makedirs(directory, exist_ok=True)
    for name in os.listdir(directory):
        os.remove(os.path.join(directory, name))
    outs = [open(os.path.join(directory, f"part-{i}.json"), "w") for i in range(files)]
    try:
        for first in range(0, count, chunk):
            lines = events(first, min(chunk, count - first), seed)
            for i, out in enumerate(outs):  # event first + j goes to file (first + j) % files
                mine = lines[(i - first) % files::files]
                if mine:
                    out.write("\n".join(mine) + "\n")
            if progress:
                print(f"nexmark: {min(first + chunk, count):,} of {count:,} events written", flush=True)
    finally:
        for out in outs:
            out.close()
    open(marker, "w").close()
    return directory


def statements(path: str, **values: str) -> list[str]:
    """The ``;``-separated statements of a SQL file, whole-line comments dropped, ``${NAME}`` filled."""
    text = "\n".join(line for line in open(path).read().splitlines() if not line.lstrip().startswith("--"))
    for name, value in values.items():
        text = text.replace("${" + name + "}", value)
    return [s.strip() for s in text.split(";") if s.strip()]


def plain(value: object) -> object:
    """A result value comparable across systems (timestamps as text, decimals and doubles rounded)."""
    if isinstance(value, datetime.datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
    if isinstance(value, (decimal.Decimal, float)):
        return round(float(value), 3)
    return value


def final_rows(rows: object) -> list:
    """The final state of a collected changelog: sorted ``[values..., count]``."""
    counts: dict[tuple, int] = {}
    for row in rows:  # type: ignore[attr-defined]
        kind = str(row.get_row_kind()).rsplit(".", 1)[-1]  # '-U' (both PyFlink and rayflink) or 'UPDATE_BEFORE'
        key = tuple(plain(v) for v in row)
        counts[key] = counts.get(key, 0) + (-1 if kind in ("-U", "-D", "UPDATE_BEFORE", "DELETE") else 1)
    return sorted(([*k, n] for k, n in counts.items() if n), key=lambda r: json.dumps(r, default=str))


def select_of(insert: str) -> str:
    """The query of ``INSERT INTO sink <query>``."""
    return re.sub(r"^INSERT\s+INTO\s+\w+\s*", "", insert, flags=re.I)


def digest(result: list) -> str:
    """A query result's fingerprint (of ``final_rows``), as recorded from Flink SQL for the tests."""
    return hashlib.sha256(json.dumps(result).encode()).hexdigest()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--files", type=int, default=2)
    ap.add_argument("--out", default="/tmp/nexmark/events", help="the directory the files are written to")
    args = ap.parse_args()
    write(args.out, args.events, args.seed, args.files, progress=True)


if __name__ == "__main__":
    main()
