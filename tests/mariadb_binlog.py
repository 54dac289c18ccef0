"""A MariaDB server of the test session's own, with the binlog on (the machine's has it off).

``mariadbd`` with a temporary data directory on a free port, started once per session, like
the tansu Kafka fixture; ``.ci/run`` needs nothing else. Row-based binlog with full row images,
as CDC readers require.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from typing import Iterator, NamedTuple

import pytest


class MariaDB(NamedTuple):
    host: str
    port: int
    user: str
    password: str

    def connect(self, database: str | None = None, **kw):
        import pymysql

        return pymysql.connect(host=self.host, port=self.port, user=self.user, password=self.password,
                               database=database, autocommit=True, **kw)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def mariadb_binlog() -> Iterator[MariaDB]:
    mariadbd = shutil.which("mariadbd") or "/usr/sbin/mariadbd"
    install = shutil.which("mariadb-install-db") or shutil.which("mysql_install_db")
    if not os.path.exists(mariadbd) or install is None:
        pytest.fail("mariadbd and mariadb-install-db are needed (Debian's mariadb-server package)")
    work = tempfile.mkdtemp(prefix="rayflink-mariadb-")
    datadir, sock = os.path.join(work, "data"), os.path.join(work, "mysqld.sock")
    subprocess.run([install, "--no-defaults", f"--datadir={datadir}", "--user=root", "--auth-root-authentication-method=normal",
                    "--skip-test-db"], check=True, capture_output=True)
    port = _free_port()
    server = subprocess.Popen(
        [mariadbd, "--no-defaults", f"--datadir={datadir}", f"--socket={sock}", f"--port={port}",
         "--bind-address=127.0.0.1", "--user=root", "--log-bin=binlog", "--binlog-format=ROW",
         "--binlog-row-image=FULL", "--server-id=1", "--skip-name-resolve", f"--pid-file={work}/mysqld.pid",
         "--innodb-buffer-pool-size=64M"],
        stdout=subprocess.DEVNULL, stderr=open(os.path.join(work, "error.log"), "wb"))
    db = MariaDB("127.0.0.1", port, "root", "")
    deadline = time.monotonic() + 60
    while True:
        try:
            conn = db.connect()
            break
        except Exception:  # noqa: BLE001 - not listening yet
            if server.poll() is not None or time.monotonic() > deadline:
                with open(os.path.join(work, "error.log"), encoding="utf-8", errors="replace") as f:
                    pytest.fail(f"mariadbd did not start: {f.read()[-2000:]}")
            time.sleep(0.1)
    with conn.cursor() as cur:
        cur.execute("CREATE DATABASE IF NOT EXISTS shop")
    conn.close()
    yield db
    server.terminate()
    try:
        server.wait(timeout=30)
    except subprocess.TimeoutExpired:
        server.kill()
    shutil.rmtree(work, ignore_errors=True)
