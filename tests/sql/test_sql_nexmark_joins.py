"""Nexmark's joins (q4, q5, q7) on seeded random auctions and bids: rayflink STREAMING (the final
state of its changelog) and BATCH, at parallelism 2, equal DuckDB on the same data.

q5 joins a window aggregation with a GROUP BY over one (an updating input) on a non-equi
condition; q4 joins the auctions and bids in WHERE (``FROM auction A, bid B``), then averages a
GROUP BY's changelog; q7 joins the bids with a window aggregation and filters in WHERE.
"""

from __future__ import annotations

import datetime
import random
from collections import Counter

import duckdb
import pyarrow as pa
import pytest

from rayflink.table import EnvironmentSettings, TableEnvironment
from tests.sql.test_sql_differential import final_state, normalize, same_rows

SEED = 20261202
BIDS = 1500
AUCTIONS = 40
BASE = datetime.datetime(2024, 5, 1, 10, 0, 0)

Q4 = """SELECT Q.category, AVG(Q.final) FROM (
    SELECT MAX(B.price) AS final, A.category FROM auction A, bid B
    WHERE A.id = B.auction AND B.`dateTime` BETWEEN A.`dateTime` AND A.expires
    GROUP BY A.id, A.category) Q
GROUP BY Q.category"""
Q4_DUCKDB = """SELECT category, SUM(final) // COUNT(final) FROM (
    SELECT MAX(B.price) AS final, A.category FROM auction A, bid B
    WHERE A.id = B.auction AND B.dateTime BETWEEN A.dateTime AND A.expires
    GROUP BY A.id, A.category) Q
GROUP BY category"""

Q5 = """SELECT AuctionBids.auction, AuctionBids.num
 FROM (SELECT auction, count(*) AS num, window_start AS starttime, window_end AS endtime
       FROM TABLE(HOP(TABLE bid, DESCRIPTOR(`dateTime`), INTERVAL '2' SECOND, INTERVAL '10' SECOND))
       GROUP BY auction, window_start, window_end) AS AuctionBids
 JOIN (SELECT max(CountBids.num) AS maxn, CountBids.starttime, CountBids.endtime
       FROM (SELECT count(*) AS num, window_start AS starttime, window_end AS endtime
             FROM TABLE(HOP(TABLE bid, DESCRIPTOR(`dateTime`), INTERVAL '2' SECOND, INTERVAL '10' SECOND))
             GROUP BY auction, window_start, window_end) AS CountBids
       GROUP BY CountBids.starttime, CountBids.endtime) AS MaxBids
 ON AuctionBids.starttime = MaxBids.starttime AND AuctionBids.endtime = MaxBids.endtime AND
    AuctionBids.num >= MaxBids.maxn"""
Q5_DUCKDB = """WITH hop AS (SELECT auction, unnest(generate_series(ms - ms % 2000 - 8000, ms - ms % 2000, 2000)) AS ws
                FROM (SELECT auction, epoch_ms(CAST(dateTime AS TIMESTAMP)) AS ms FROM bid)),
     ab AS (SELECT auction, COUNT(*) AS num, ws FROM hop GROUP BY auction, ws),
     mb AS (SELECT MAX(num) AS maxn, ws FROM ab GROUP BY ws)
SELECT ab.auction, ab.num FROM ab JOIN mb ON ab.ws = mb.ws AND ab.num >= mb.maxn"""

Q7 = """SELECT B.auction, B.price, B.bidder, B.`dateTime`
FROM bid B
JOIN (SELECT MAX(price) AS maxprice, window_end AS `dateTime`
      FROM TABLE(TUMBLE(TABLE bid, DESCRIPTOR(`dateTime`), INTERVAL '10' SECOND))
      GROUP BY window_start, window_end) B1
ON B.price = B1.maxprice
WHERE B.`dateTime` BETWEEN B1.`dateTime` - INTERVAL '10' SECOND AND B1.`dateTime`"""
Q7_DUCKDB = """WITH b1 AS (SELECT MAX(price) AS maxprice,
                   epoch_ms(CAST(dateTime AS TIMESTAMP)) // 10000 * 10000 + 10000 AS we
            FROM bid GROUP BY we)
SELECT B.auction, B.price, B.bidder, B.dateTime FROM bid B JOIN b1 ON B.price = b1.maxprice
WHERE epoch_ms(CAST(B.dateTime AS TIMESTAMP)) BETWEEN b1.we - 10000 AND b1.we"""


def make_data(rng: random.Random) -> tuple[pa.Table, pa.Table]:
    """Auctions (opening every second, open 5 to 30 s) and bids on them (a few hundred ms out of order)."""
    auctions = {"id": [], "category": [], "dateTime": [], "expires": []}
    for i in range(AUCTIONS):
        start = BASE + datetime.timedelta(seconds=i)
        auctions["id"].append(1000 + i)
        auctions["category"].append(rng.randrange(10, 14))
        auctions["dateTime"].append(start)
        auctions["expires"].append(start + datetime.timedelta(seconds=rng.randrange(5, 30)))
    bids = {"auction": [], "bidder": [], "price": [], "dateTime": []}
    for i in range(BIDS):
        bids["auction"].append(1000 + rng.randrange(AUCTIONS + 5))  # some bid on no auction
        bids["bidder"].append(rng.randrange(50))
        bids["price"].append(rng.randrange(1, 500))
        bids["dateTime"].append(BASE + datetime.timedelta(milliseconds=i * 40 + rng.randrange(300)))
    types = {"dateTime": pa.timestamp("ms"), "expires": pa.timestamp("ms")}
    auction, bid = (pa.table({name: pa.array(values, types.get(name, pa.int64())) for name, values in columns.items()})
                    for columns in (auctions, bids))
    return auction, bid


def write_csv(table: pa.Table, path) -> None:
    lines = [",".join(v.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] if isinstance(v, datetime.datetime) else str(v)
                      for v in row) for row in zip(*(c.to_pylist() for c in table.columns))]
    path.write_text("\n".join(lines) + "\n")


@pytest.fixture(scope="module")
def nexmark(tmp_path_factory):
    auctions, bids = make_data(random.Random(SEED))
    root = tmp_path_factory.mktemp("nexmark")
    for name, table in (("auction", auctions), ("bid", bids)):
        (root / name).mkdir()
        write_csv(table, root / name / "part-0.csv")
    return auctions, bids, root


def environment(root, streaming: bool) -> TableEnvironment:
    settings = EnvironmentSettings.in_streaming_mode() if streaming else EnvironmentSettings.in_batch_mode()
    t_env = TableEnvironment.create(settings)
    t_env.get_config().set("parallelism.default", "2")
    t_env.execute_sql(f"""CREATE TABLE auction (id BIGINT, category BIGINT, `dateTime` TIMESTAMP(3),
                          expires TIMESTAMP(3), WATERMARK FOR `dateTime` AS `dateTime` - INTERVAL '1' SECOND)
                          WITH ('connector' = 'filesystem', 'path' = '{root}/auction', 'format' = 'csv')""")
    t_env.execute_sql(f"""CREATE TABLE bid (auction BIGINT, bidder BIGINT, price BIGINT, `dateTime` TIMESTAMP(3),
                          WATERMARK FOR `dateTime` AS `dateTime` - INTERVAL '1' SECOND)
                          WITH ('connector' = 'filesystem', 'path' = '{root}/bid', 'format' = 'csv')""")
    return t_env


@pytest.mark.integration
@pytest.mark.parametrize("query,duck", [(Q4, Q4_DUCKDB), (Q5, Q5_DUCKDB), (Q7, Q7_DUCKDB)], ids=["q4", "q5", "q7"])
def test_nexmark_join_streaming_equals_batch_equals_duckdb(nexmark, query, duck):
    auctions, bids, root = nexmark
    con = duckdb.connect()
    con.register("auction", auctions)
    con.register("bid", bids)
    expected = Counter(normalize(r) for r in con.execute(duck).fetchall())
    assert expected, "the data gives the query no result to check"
    streaming = final_state(environment(root, True).execute_sql(query).collect())
    batch = final_state(environment(root, False).execute_sql(query).collect())
    assert same_rows(streaming, expected), (streaming - expected, expected - streaming)
    assert same_rows(batch, expected), (batch - expected, expected - batch)
