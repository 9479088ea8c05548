"""Where recorded sessions are kept: SQLite by default, PostgreSQL by URL, through SQLAlchemy.

Only aggregates are stored, never faces or images: per time step, the faces present, read and facing
the camera, how many readable faces showed each emotion and the sum of each emotion's probability over
them. Every step is its own transaction, so a killed recorder loses at most the step it was writing.
"""

from __future__ import annotations

import os
import re
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import (
    JSON,
    Column,
    Connection,
    Engine,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    create_engine,
    event,
    func,
    inspect,
    literal,
    select,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError, SQLAlchemyError

from moodlens.runtime.errors import MoodlensError

SCHEMA_VERSION = 2
# What each schema version adds, applied in order to a database of an older version; version 1 is the first.
UPGRADES: dict[int, str] = {2: "ALTER TABLE moodlens_steps ADD COLUMN evidence JSON"}

metadata = MetaData()
meta_table = Table(
    "moodlens_meta",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", String(256), nullable=False),
)
sessions_table = Table(
    "moodlens_sessions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(200), nullable=False, unique=True),
    Column("created", Float, nullable=False),  # unix seconds, to the millisecond as step times are
    Column("labels", JSON, nullable=False),
    Column("settings", JSON, nullable=False),  # how it was recorded: source, rate, model, detector
    sqlite_autoincrement=True,  # ids of deleted sessions are never given again (PostgreSQL's never are)
)
steps_table = Table(
    "moodlens_steps",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("session_id", Integer, ForeignKey("moodlens_sessions.id"), nullable=False),
    Column("recorder", String(200), nullable=False),
    Column("time", Float, nullable=False),  # unix seconds of the analysed frame
    Column("faces", Integer, nullable=False),
    Column("readable", Integer, nullable=False),
    Column("facing", Integer, nullable=False),  # faces turned towards the camera (of those with landmarks)
    Column("counts", JSON, nullable=False),  # {emotion: readable faces showing it}
    Column("score_sums", JSON, nullable=False),  # {emotion: sum of its probability over the readable faces}
    # {kind of faces: the readable faces' summed log-likelihood under it} (runtime.calibration; schema 2)
    Column("evidence", JSON, nullable=True),
    Index("ix_moodlens_steps_session_time", "session_id", "time"),
)


# The one rule for session names, wherever a session is created: the CLI, the REST API, the live WebSocket.
# Letters and digits of any script, space and . : @ _ -; no slash, control character or quote.
SESSION_NAME = re.compile(r"^[\w .:@-]{1,200}$")
SESSION_NAME_RULE = "1 to 200 letters, digits, spaces and . : @ _ -"


class StoreError(MoodlensError):
    """The database cannot be used as asked; the message says why in one line."""


class NoSuchSession(StoreError):
    pass


class SessionConflict(StoreError):
    """A session exists under that name with other labels."""


class SessionGone(StoreError):
    """The session was deleted while a recorder was writing into it."""


def check_session_name(name: str) -> str:
    if not SESSION_NAME.fullmatch(name) or name != name.strip():
        raise StoreError(f"session name {name[:40]!r}: use {SESSION_NAME_RULE}, not starting or ending with a space")
    return name


def default_database() -> str:
    """MOODLENS_DATABASE, or an SQLite file in the user's data folder: no set-up needed."""
    if url := os.environ.get("MOODLENS_DATABASE"):
        return url
    folder = Path(os.environ.get("XDG_DATA_HOME", Path.home() / ".local" / "share")) / "moodlens"
    return f"sqlite:///{folder / 'sessions.sqlite'}"


def default_recorder(source: str) -> str:
    """A recorder's name: this machine and its source, so that a restarted recorder carries on as itself."""
    return f"{socket.gethostname()}:{source}"


@dataclass
class Step:
    """One analysed frame's aggregates."""

    time: float
    faces: int
    readable: int
    facing: int
    counts: dict[str, int]
    score_sums: dict[str, float]
    evidence: dict[str, float] = field(default_factory=dict)  # empty: recorded without (schema 1, no calibration)


@dataclass
class Session:
    id: int
    name: str
    created: float
    labels: list[str]
    settings: dict


class Store:
    """A database of sessions; safe to share between processes (each write is one short transaction)."""

    def __init__(self, url: str | None = None):
        url = url or default_database()
        self.engine = open_engine(url)
        self.url = make_url(url).render_as_string(hide_password=True)  # for messages: never a password
        self.step_columns = list(steps_table.columns)  # what a step row is read with (check_schema)
        if is_read_only(self.engine):
            self.check_schema()
        else:
            self.upgrade()

    @contextmanager
    def connection(self, doing: str, write: bool = False) -> Iterator[Connection]:
        """A connection (in one transaction if `write`) whose database errors become one-line StoreErrors:
        a file that is not a database, a full disk, a server that went away."""
        try:
            with self.engine.begin() if write else self.engine.connect() as db:
                yield db
        except StoreError:
            raise
        except SQLAlchemyError as e:
            raise self.failure(doing, e) from e

    def failure(self, doing: str, error: SQLAlchemyError) -> StoreError:
        """The database error as one line: what could not be done, and the driver's first line of why."""
        return StoreError(f"{self.url}: cannot {doing} ({first_line(getattr(error, 'orig', None) or error)})")

    def upgrade(self, attempts: int = 5) -> None:
        """Create the tables if missing, then bring an older schema up to SCHEMA_VERSION. Recorders starting
        together on a new database race to do it (the loser sees a table or row appear under it: an
        IntegrityError, or SQLite's OperationalError 'already exists'): it waits a moment and tries again."""
        for attempt in range(attempts):
            try:
                made = not inspect(self.engine).has_table(steps_table.name)
                metadata.create_all(self.engine)
                with self.engine.begin() as db:
                    self.upgrade_schema(db, made)
                return
            except SQLAlchemyError as e:  # a race lost is tried again; not a database, a read-only folder are not
                racing = isinstance(e, IntegrityError | ProgrammingError | OperationalError)
                if not racing or attempt == attempts - 1:
                    raise self.failure("open the database", e) from e
                time.sleep(0.2 * (attempt + 1))

    def check_schema(self) -> None:
        """A database we may only read must already be a moodlens database of this schema or an older one
        (schema 1 is read without its steps' evidence, which it does not have)."""
        with self.connection("read the database") as db:
            try:
                row = db.execute(select(meta_table.c.value).where(meta_table.c.key == "schema_version")).first()
            except OperationalError as e:
                raise StoreError(f"{self.url}: read-only, and not a moodlens sessions database") from e
        if not row or row.value not in {str(version) for version in range(1, SCHEMA_VERSION + 1)}:
            found = row.value if row else "none"
            raise StoreError(f"{self.url}: read-only at schema {found}; this moodlens reads {SCHEMA_VERSION}")
        if row.value == "1":
            self.step_columns = [column for column in steps_table.columns if column.name != "evidence"]

    def upgrade_schema(self, db: Connection, made: bool) -> None:
        """`made`: create_all has just made the tables (at this schema); tables without a version row that
        were there before are of version 1, the schema before versions were kept."""
        row = db.execute(select(meta_table.c.value).where(meta_table.c.key == "schema_version")).first()
        if row and not row.value.isdigit():
            raise StoreError(f"{self.url}: schema_version {row.value!r} is not a moodlens schema version")
        version = int(row.value) if row else SCHEMA_VERSION if made else 1
        if version > SCHEMA_VERSION:
            raise StoreError(f"{self.url}: written by a newer moodlens (schema {version}); upgrade moodlens")
        for step in range(version + 1, SCHEMA_VERSION + 1):
            if step in UPGRADES:
                db.exec_driver_sql(UPGRADES[step])
        if not row:
            db.execute(meta_table.insert().values(key="schema_version", value=str(SCHEMA_VERSION)))
        elif version < SCHEMA_VERSION:
            version_row = meta_table.c.key == "schema_version"
            db.execute(meta_table.update().where(version_row).values(value=str(SCHEMA_VERSION)))

    def open_session(self, name: str, labels: list[str], settings: dict) -> Session:
        """The session of this name, created now if there is none (two recorders may race to create it)."""
        check_session_name(name)
        if session := self.find(name):
            if session.labels != labels:
                raise SessionConflict(f"session {name!r} was recorded with labels {session.labels}, not {labels}")
            return session
        try:
            with self.connection("create a session", write=True) as db:
                values = {"name": name, "created": round(time.time(), 3), "labels": labels, "settings": settings}
                db.execute(sessions_table.insert().values(**values))
        except StoreError as e:
            if not isinstance(e.__cause__, IntegrityError):
                raise  # else another recorder created it a moment ago
        return self.get(name)

    def find(self, name: str) -> Session | None:
        with self.connection("read the sessions") as db:
            row = db.execute(select(sessions_table).where(sessions_table.c.name == name)).first()
        return Session(row.id, row.name, row.created, list(row.labels), dict(row.settings)) if row else None

    def get(self, name: str) -> Session:
        if session := self.find(name):
            return session
        raise NoSuchSession(f"no session {name!r}")

    def summaries(self) -> list[dict]:
        """Every session with its step count and first and last step times."""
        query = (
            select(
                sessions_table.c.name,
                sessions_table.c.created,
                func.count(steps_table.c.id).label("steps"),
                func.min(steps_table.c.time).label("first"),
                func.max(steps_table.c.time).label("last"),
            )
            .select_from(sessions_table.outerjoin(steps_table, steps_table.c.session_id == sessions_table.c.id))
            .group_by(sessions_table.c.id, sessions_table.c.name, sessions_table.c.created)
            .order_by(sessions_table.c.created)
        )
        with self.connection("read the sessions") as db:
            return [dict(row._mapping) for row in db.execute(query)]

    def add_step(self, session: Session, recorder: str, step: Step) -> None:
        """Write a step into `session` if it still exists: the same row (id and creation time), not a session
        deleted since, nor a new one that an older database gave the same id. One statement, so no deletion
        can come between the check and the write."""
        values = {"session_id": session.id, "recorder": recorder, **vars(step)}
        row = select(*(literal(value, steps_table.c[name].type) for name, value in values.items()))
        alive = select(sessions_table.c.id).where(
            sessions_table.c.id == session.id, sessions_table.c.created == session.created
        )
        with self.connection("record a step", write=True) as db:
            insert = steps_table.insert().from_select(list(values), row.where(alive.exists()))
            written = db.execute(insert.returning(steps_table.c.id)).first()
        if written is None:
            raise SessionGone(f"session {session.name!r} was deleted while recording; recording stopped")

    def span(self, session: Session, recorder: str | None = None) -> tuple[float | None, float | None]:
        """When the first and the last step in the session were taken (by `recorder`, or by any)."""
        query = select(func.min(steps_table.c.time), func.max(steps_table.c.time))
        query = query.where(steps_table.c.session_id == session.id)
        if recorder is not None:
            query = query.where(steps_table.c.recorder == recorder)
        with self.connection("read the session") as db:
            first, last = db.execute(query).one()
        return first, last

    def step_count(self, session: Session) -> int:
        query = select(func.count(steps_table.c.id)).where(steps_table.c.session_id == session.id)
        with self.connection("read the session") as db:
            return db.execute(query).scalar()

    def read_steps(self, session: Session, since: float | None = None) -> Iterator[tuple[str, Step]]:
        """(recorder, step) in time order, from `since` (unix seconds) if given."""
        query = select(*self.step_columns).where(steps_table.c.session_id == session.id)
        if since is not None:
            query = query.where(steps_table.c.time >= since)
        with self.connection("read the session") as db:
            for row in db.execute(query.order_by(steps_table.c.time, steps_table.c.id)):
                yield row.recorder, step_of_row(row)

    def steps_after(self, session: Session, last_id: int) -> Iterator[tuple[int, str, Step]]:
        """(id, recorder, step) of the steps written after the step `last_id`, in the order written."""
        query = select(*self.step_columns).where(steps_table.c.session_id == session.id, steps_table.c.id > last_id)
        with self.connection("read the session") as db:
            for row in db.execute(query.order_by(steps_table.c.id)):
                yield row.id, row.recorder, step_of_row(row)

    def delete(self, name: str) -> None:
        session = self.get(name)
        with self.connection("delete the session", write=True) as db:
            db.execute(steps_table.delete().where(steps_table.c.session_id == session.id))
            db.execute(sessions_table.delete().where(sessions_table.c.id == session.id))


def open_engine(url: str) -> Engine:
    """An engine for `url`; SQLite files get their folder, write-ahead logging (readers never wait for the
    recorder) and a busy timeout (recorders in several processes take turns)."""
    if url in ("sqlite://", "sqlite:///", "sqlite:///:memory:"):
        raise StoreError(f"{url}: an in-memory database keeps nothing once the command ends; give a file")
    if url.startswith("sqlite:///"):
        path = Path(url.removeprefix("sqlite:///"))
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.is_file() and not os.access(path, os.W_OK):
            url = read_only_url(path)
    try:
        engine = create_engine(url, connect_args={"timeout": 30} if url.startswith("sqlite") else {})
    except Exception as e:  # a malformed URL or an uninstalled driver: SQLAlchemy's many kinds
        hint = "sqlite:///FILE or postgresql+psycopg://USER@HOST/DB"
        raise StoreError(f"not a database URL SQLAlchemy can open ({type(e).__name__}): use {hint}") from e
    if url.startswith("sqlite") and not is_read_only(engine):
        event.listen(engine, "connect", sqlite_pragmas)
    return engine


def step_of_row(row) -> Step:
    evidence = row._mapping.get("evidence") or {}  # none in a database of schema 1
    return Step(row.time, row.faces, row.readable, row.facing, row.counts, row.score_sums, evidence)


def read_only_url(path: Path) -> str:
    """An SQLite file we may not write, opened for reading: where its folder is closed too and no write-ahead
    log is open (no recorder is writing it), SQLite is told the file cannot change, as it needs no lock then."""
    unchanging = not os.access(path.parent, os.W_OK) and not Path(f"{path}-wal").exists()
    return f"sqlite:///file:{path}?mode=ro{'&immutable=1' if unchanging else ''}&uri=true"


def is_read_only(engine: Engine) -> bool:
    return engine.url.query.get("mode") == "ro"


def first_line(error: BaseException) -> str:
    return (str(error).strip().splitlines() or [type(error).__name__])[0]


def sqlite_pragmas(connection, _record) -> None:
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")  # SQLite leaves them unchecked unless asked
    cursor.close()
