"""The database on PostgreSQL: the part of sqlite-utils' ``Database`` the store uses, over one
psycopg connection, so every store function runs unchanged on either engine.

The connection is in autocommit mode and the caller opens transactions itself (``BEGIN``,
savepoints, ``COMMIT``), exactly as with the SQLite connection; SQL goes through
``dialect.statement``. ``lastrowid`` comes from ``RETURNING`` of the table's identity column
(SQLite's rowid)."""

from __future__ import annotations

import logging
import os
import re
import secrets
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import psycopg
from psycopg.adapt import Dumper, Loader
from psycopg.postgres import types as pg_types

from modemd.store import dialect
from modemd.store.location import redacted

dialect.register_errors(psycopg.Error, psycopg.IntegrityError)

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 10  # libpq connect_timeout: a host down or unreachable fails, not hangs
_INSERT_INTO = re.compile(r"^\s*INSERT INTO (\w+)", re.IGNORECASE)
_WRITES_TO = re.compile(r"^\s*(?:INSERT\s+INTO|UPDATE|DELETE\s+FROM)\s+(\w+)", re.IGNORECASE)
# Writes to these tables also NOTIFY their channel (at commit): every process that writes
# them (the daemon, the CLI) tells every host, whose caches of those rows start over.
NOTIFY_ON_WRITE = {"api_keys": dialect.KEYS_CHANNEL}


class _BoolAsInt(Dumper):
    """Flags are 0/1 integers in the schema (as in SQLite): Python's bools go in as such."""

    oid = pg_types["int8"].oid

    def dump(self, obj: bool) -> bytes:
        return b"1" if obj else b"0"


class _NumericAsNumber(Loader):
    """sum() of integers is numeric in PostgreSQL: an int when whole, else a float (as SQLite)."""

    def load(self, data: Any) -> int | float:
        text = bytes(data).decode()
        try:
            return int(text)
        except ValueError:
            return float(text)


class PgCursor:
    """A finished statement: its rows, ``rowcount``, ``lastrowid`` and ``description``."""

    def __init__(self, cursor: psycopg.Cursor[Any], lastrowid: int | None = None) -> None:
        self._cursor = cursor
        self.lastrowid = lastrowid
        self.rowcount = cursor.rowcount
        self.description = cursor.description

    def fetchone(self) -> tuple[Any, ...] | None:
        return self._cursor.fetchone() if self.description else None

    def fetchall(self) -> list[tuple[Any, ...]]:
        return self._cursor.fetchall() if self.description else []

    def __iter__(self) -> Iterator[tuple[Any, ...]]:
        return iter(self.fetchall())


class PgConnection:
    """What the store calls on ``db.conn``: execute, executemany, transaction state."""

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self.raw = conn
        self.identity: dict[str, str] = {}  # table -> its identity column (its "rowid")
        # Called with the table's name before each INSERT, UPDATE or DELETE (the store counts
        # the changes of the tables it watches, as its SQLite triggers do).
        self.on_write: Callable[[str], object] | None = None
        # This connection's NOTIFY payload: its own store counts its writes already, so its
        # listener ignores them.
        self.token = f"{os.getpid()}.{secrets.token_hex(6)}"

    def execute(self, sql: str, params: Sequence[Any] | None = None) -> PgCursor:
        text = dialect.statement(sql)
        table = _INSERT_INTO.match(text)
        returning = None
        if table and " RETURNING " not in text.upper():
            returning = self.identity.get(table.group(1).lower())
            if returning:
                text = f"{text} RETURNING {returning}"
        cursor = self.raw.execute(text, tuple(params or ()))
        lastrowid = None
        if returning:
            rows = cursor.fetchall()
            lastrowid = rows[-1][0] if rows else None
        written = _WRITES_TO.match(text)
        if written:  # after the write: in autocommit (the CLI) the NOTIFY goes out at once
            self._wrote(written.group(1).lower())
        return PgCursor(cursor, lastrowid)

    def _wrote(self, table: str) -> None:
        if self.on_write is not None:
            self.on_write(table)
        if table in NOTIFY_ON_WRITE:  # merged with its repeats; sent if the transaction commits
            self.raw.execute("SELECT pg_notify(%s, %s)", (NOTIFY_ON_WRITE[table], self.token))

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> PgCursor:
        cursor = self.raw.cursor()
        cursor.executemany(dialect.statement(sql), [tuple(row) for row in rows])
        written = _WRITES_TO.match(sql)
        if written:
            self._wrote(written.group(1).lower())
        return PgCursor(cursor)

    @property
    def in_transaction(self) -> bool:
        return self.raw.info.transaction_status != psycopg.pq.TransactionStatus.IDLE

    def close(self) -> None:
        self.raw.close()

    def __enter__(self) -> PgConnection:
        return self

    def __exit__(self, kind: Any, value: Any, traceback: Any) -> None:
        if self.in_transaction:
            self.raw.execute("ROLLBACK" if kind else "COMMIT")


class PgTable:
    """``db.table(name)``: the row helpers the store uses."""

    def __init__(self, db: PgDatabase, name: str) -> None:
        self.db = db
        self.name = name
        self.last_rowid: int | None = None  # of this table's last insert (as sqlite-utils)

    @property
    def pk(self) -> str:
        return self.db.primary_key(self.name)

    def insert(self, row: dict[str, Any], **_: Any) -> PgTable:
        cursor = self.db.execute(
            f"INSERT INTO {self.name} ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})",
            list(row.values()),
        )
        self.last_rowid = cursor.lastrowid
        return self

    def upsert(self, row: dict[str, Any], pk: str) -> PgTable:
        others = [c for c in row if c != pk]
        update = ", ".join(f"{c} = excluded.{c}" for c in others)
        self.db.execute(
            f"INSERT INTO {self.name} ({', '.join(row)}) VALUES ({', '.join('?' * len(row))}) "
            f"ON CONFLICT ({pk}) DO " + (f"UPDATE SET {update}" if others else "NOTHING"),
            list(row.values()),
        )
        return self

    def update(self, key: Any, values: dict[str, Any]) -> PgTable:
        if values:
            self.db.execute(
                f"UPDATE {self.name} SET {', '.join(f'{c} = ?' for c in values)} "
                f"WHERE {self.pk} = ?",
                [*values.values(), key],
            )
        return self

    def get(self, key: Any) -> dict[str, Any]:
        rows = list(self.rows_where(f"{self.pk} = ?", [key]))
        if not rows:
            raise LookupError(f"no row {key!r} in {self.name}")
        return rows[0]

    def rows_where(
        self, where: str | None = None, where_args: Sequence[Any] | None = None, **options: Any
    ) -> Iterator[dict[str, Any]]:
        sql = f"SELECT * FROM {self.name}" + (f" WHERE {where}" if where else "")
        if options.get("order_by"):
            sql += f" ORDER BY {options['order_by']}"
        return self.db.query(sql, where_args)

    @property
    def count(self) -> int:
        return self.count_where("1 = 1")

    @property
    def rows(self) -> Iterator[dict[str, Any]]:
        return self.rows_where()

    def count_where(self, where: str, where_args: Sequence[Any] | None = None) -> int:
        row = self.db.execute(f"SELECT count(*) FROM {self.name} WHERE {where}", where_args)
        found = row.fetchone()
        return int(found[0]) if found else 0


class PgDatabase:
    """``sqlite_utils.Database``'s surface the store uses, on PostgreSQL."""

    dialect = "postgresql"
    host_id: str | None = None  # this host's, in its NOTIFY payloads (the Store sets it)

    def __init__(self, url: str) -> None:
        self.url = url
        self.conn = PgConnection(self._connect())
        self._keys: dict[str, str] = {}

    def _connect(self) -> psycopg.Connection[Any]:
        try:
            raw = psycopg.connect(self.url, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S)
        except psycopg.Error as exc:
            raise psycopg.OperationalError(
                f"cannot connect to {redacted(self.url)}: {exc}"
            ) from exc
        raw.adapters.register_dumper(bool, _BoolAsInt)
        raw.adapters.register_loader("numeric", _NumericAsNumber)
        return raw

    def reconnect_if_lost(self) -> None:
        """A connection the server closed (a restart, a failover) is opened again before the
        next batch; the batch that met the loss failed with a StoreError. Still down: the next
        batch fails the same way and tries again."""
        if not (self.conn.raw.broken or self.conn.raw.closed):
            return
        try:
            self.conn.raw = self._connect()
        except psycopg.Error as exc:
            log.error("PostgreSQL still unreachable: %s", exc)
            return
        log.warning("reconnected to %s", redacted(self.url))

    def learn_schema(self) -> None:
        """Which column of each table is its identity (after migrations changed the schema)."""
        rows = self.conn.raw.execute(
            "SELECT table_name, column_name FROM information_schema.columns "
            "WHERE table_schema = current_schema() AND is_identity = 'YES'"
        ).fetchall()
        self.conn.identity = {table: column for table, column in rows}
        self._keys.clear()

    def execute(self, sql: str, params: Sequence[Any] | None = None) -> PgCursor:
        return self.conn.execute(sql, params)

    def query(self, sql: str, params: Sequence[Any] | None = None) -> Iterator[dict[str, Any]]:
        cursor = self.conn.execute(sql, params)
        names = [column.name for column in cursor.description or ()]
        return iter([dict(zip(names, row, strict=True)) for row in cursor.fetchall()])

    def table(self, name: str) -> PgTable:
        return PgTable(self, name)

    def __getitem__(self, name: str) -> PgTable:
        return PgTable(self, name)

    def primary_key(self, table: str) -> str:
        if table not in self._keys:
            row = self.conn.raw.execute(
                "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid "
                "AND a.attnum = ANY(i.indkey) WHERE i.indrelid = %s::regclass AND i.indisprimary",
                [table],
            ).fetchone()
            if row is None:
                raise LookupError(f"table {table} has no primary key")
            self._keys[table] = row[0]
        return self._keys[table]

    def close(self) -> None:
        self.conn.close()


LISTEN_POLL_S = 1.0  # how often the listener's thread looks whether it should stop
RELISTEN_S = 2.0  # after a lost connection, listen again this much later


class Listener:
    """LISTEN on a channel on a connection of its own (its own thread); ``callback`` is called
    on that thread for each NOTIFY whose payload is not ``ignore`` (this host's own), and once
    after every reconnection (something may have been missed meanwhile)."""

    def __init__(
        self, url: str, channel: str, callback: Callable[[], object], ignore: str = ""
    ) -> None:
        self.url = url
        self.channel = channel
        self.callback = callback
        self.ignore = ignore  # NOTIFY payload of this host's own commits
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"listen {channel}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                with psycopg.connect(
                    self.url, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S
                ) as conn:
                    conn.execute(f"LISTEN {self.channel}")
                    self.callback()
                    while not self._stop.is_set():
                        for note in conn.notifies(timeout=LISTEN_POLL_S):
                            if note.payload != self.ignore:
                                self.callback()
            except psycopg.Error as exc:
                log.warning("LISTEN %s on %s: %s", self.channel, redacted(self.url), exc)
                self._stop.wait(RELISTEN_S)
