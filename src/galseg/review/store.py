"""The review's SQLite database: pairs, reviewers and every choice they made.

One file, ``REVIEW_DIR/review.sqlite``, in WAL mode with ``synchronous=FULL``: each choice
is committed before the browser is told it was saved, so killing the server (even with
``kill -9``) loses nothing, and reviewers write at the same time without blocking each
other's reads. Every statement is parameterised; no value is ever formatted into SQL.

Tables
------
``meta``
    key/value: feature, threshold, the two sources' names and folders, seed, the secret
    behind the same-origin tokens, galseg version, creation time.
``pairs``
    one galaxy: its name, image file (a copy, named by a random ``uid``), the two
    sources' map files, outlines (JSON) and mask areas, and ``left_source`` ('a' or
    'b'): the side source A is shown on. Reviewers never see this column.
``reviewers``
    name, the SHA-256 of their secret token (the token itself is never stored), times.
``assignments``
    each reviewer's own random order of the pairs (``position`` 1..N).
``choices``
    every choice: reviewer, pair, what was clicked (``left``, ``right``, ``both_good``,
    ``both_bad``), time; an undone choice keeps its row with ``undone_at`` set. At most
    one choice per reviewer and pair is not undone (a unique partial index).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np

DATABASE_NAME = "review.sqlite"
SCHEMA_VERSION = 1
CHOICES = ("left", "right", "both_good", "both_bad")
"""What a reviewer can answer: the left (A) or right (B) outline is better, both good,
both bad."""

_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE pairs (
    id INTEGER PRIMARY KEY,
    uid TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL UNIQUE,
    image_file TEXT NOT NULL,
    a_file TEXT NOT NULL,
    b_file TEXT NOT NULL,
    left_source TEXT NOT NULL CHECK (left_source IN ('a', 'b')),
    width INTEGER NOT NULL,
    height INTEGER NOT NULL,
    a_pixels INTEGER NOT NULL,
    b_pixels INTEGER NOT NULL,
    a_outline TEXT NOT NULL,
    b_outline TEXT NOT NULL
);
CREATE TABLE reviewers (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    token_sha256 TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL,
    link_issued_at TEXT NOT NULL
);
CREATE TABLE assignments (
    reviewer_id INTEGER NOT NULL REFERENCES reviewers(id),
    position INTEGER NOT NULL,
    pair_id INTEGER NOT NULL REFERENCES pairs(id),
    PRIMARY KEY (reviewer_id, position),
    UNIQUE (reviewer_id, pair_id)
);
CREATE TABLE choices (
    id INTEGER PRIMARY KEY,
    reviewer_id INTEGER NOT NULL REFERENCES reviewers(id),
    pair_id INTEGER NOT NULL REFERENCES pairs(id),
    choice TEXT NOT NULL CHECK (choice IN ('left', 'right', 'both_good', 'both_bad')),
    created_at TEXT NOT NULL,
    undone_at TEXT
);
CREATE UNIQUE INDEX one_live_choice ON choices (reviewer_id, pair_id) WHERE undone_at IS NULL;
CREATE INDEX choices_by_reviewer ON choices (reviewer_id, undone_at);
"""


class ReviewConflict(Exception):
    """A choice or undo that does not fit the reviewer's state (a stale page)."""


@dataclass(frozen=True)
class Reviewer:
    id: int
    name: str
    token_sha256: str


@dataclass(frozen=True)
class PairRecord:
    """One pair as :func:`create_review` stores it."""

    uid: str
    name: str
    image_file: str
    a_file: str
    b_file: str
    left_source: str
    width: int
    height: int
    a_pixels: int
    b_pixels: int
    a_outline: list[list[float]]
    b_outline: list[list[float]]


def utc_now() -> str:
    """The time as ISO 8601 UTC with milliseconds, e.g. ``2025-01-31T12:00:00.123Z``."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def token_sha256(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def _connect(path: Path) -> sqlite3.Connection:
    connection = sqlite3.connect(path, timeout=30.0, isolation_level=None)
    connection.row_factory = sqlite3.Row
    connection.execute("PRAGMA foreign_keys = ON")
    connection.execute("PRAGMA synchronous = FULL")
    return connection


class ReviewStore:
    """Access to one review database. Each call opens its own connection, so one store
    serves many threads (the web server's) at once.

    Parameters
    ----------
    review_dir : str or path-like
        A folder made by :func:`create_review` (``galseg review prepare``).

    Raises
    ------
    FileNotFoundError
        No review database there.
    """

    def __init__(self, review_dir: str | PathLike[str]) -> None:
        self.review_dir = Path(review_dir)
        self.path = self.review_dir / DATABASE_NAME
        if not self.path.is_file():
            raise FileNotFoundError(f"{self.review_dir}: no {DATABASE_NAME}; make the review "
                                    "with `galseg review prepare` first")
        with self._connection() as db:
            version = db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        if version is None or int(version[0]) != SCHEMA_VERSION:
            raise ValueError(f"{self.path}: not a galseg review database of schema "
                             f"{SCHEMA_VERSION}")

    @contextmanager
    def _connection(self) -> Iterator[sqlite3.Connection]:
        connection = _connect(self.path)
        try:
            yield connection
        finally:
            connection.close()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """A write transaction that takes the lock at once (no upgrade deadlocks)."""
        with self._connection() as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")

    # ------------------------------------------------------------------ metadata
    @property
    def meta(self) -> dict[str, str]:
        with self._connection() as db:
            return {row["key"]: row["value"] for row in db.execute("SELECT key, value FROM meta")}

    def n_pairs(self) -> int:
        with self._connection() as db:
            return int(db.execute("SELECT count(*) FROM pairs").fetchone()[0])

    def same_origin_token(self, reviewer: Reviewer) -> str:
        """The token the page sends with every post: an HMAC of the reviewer's token hash
        under the review's secret, so only a page this server gave out knows it."""
        secret = bytes.fromhex(self.meta["secret"])
        return hmac.new(secret, f"same-origin:{reviewer.token_sha256}".encode(),
                        "sha256").hexdigest()

    # ------------------------------------------------------------------ reviewers
    def add_reviewer(self, name: str, *, new_link: bool = False) -> str:
        """Add a reviewer (or, with ``new_link``, replace an existing reviewer's link) and
        return their secret token. Only its SHA-256 is stored.

        Raises
        ------
        ValueError
            Empty name, an existing reviewer without ``new_link``, or an unknown one with it.
        """
        name = " ".join(str(name).split())
        if not name or len(name) > 100:
            raise ValueError("a reviewer's name must have 1 to 100 characters")
        token = secrets.token_urlsafe(32)
        now = utc_now()
        with self._write() as db:
            row = db.execute("SELECT id FROM reviewers WHERE name = ?", (name,)).fetchone()
            if new_link:
                if row is None:
                    raise ValueError(f"no reviewer named {name!r}")
                db.execute("UPDATE reviewers SET token_sha256 = ?, link_issued_at = ? "
                           "WHERE id = ?", (token_sha256(token), now, row["id"]))
                return token
            if row is not None:
                raise ValueError(f"reviewer {name!r} exists; use --new-link for a new link")
            cursor = db.execute("INSERT INTO reviewers (name, token_sha256, created_at, "
                                "link_issued_at) VALUES (?, ?, ?, ?)",
                                (name, token_sha256(token), now, now))
            reviewer_id = int(cursor.lastrowid)
            pair_ids = [r[0] for r in db.execute("SELECT id FROM pairs ORDER BY id")]
            seed = int(db.execute("SELECT value FROM meta WHERE key = 'seed'").fetchone()[0])
            order = np.random.default_rng([seed, reviewer_id]).permutation(len(pair_ids))
            db.executemany("INSERT INTO assignments (reviewer_id, position, pair_id) "
                           "VALUES (?, ?, ?)",
                           [(reviewer_id, k + 1, pair_ids[i]) for k, i in enumerate(order)])
        return token

    def reviewer_for_token(self, token: str | None) -> Reviewer | None:
        """The reviewer whose link holds ``token``, or None."""
        if not token or len(token) > 200:
            return None
        digest = token_sha256(token)
        with self._connection() as db:
            row = db.execute("SELECT id, name, token_sha256 FROM reviewers "
                             "WHERE token_sha256 = ?", (digest,)).fetchone()
        if row is None or not hmac.compare_digest(row["token_sha256"], digest):
            return None
        return Reviewer(int(row["id"]), row["name"], row["token_sha256"])

    def reviewers(self) -> list[dict[str, Any]]:
        """Every reviewer with the number of live choices."""
        with self._connection() as db:
            rows = db.execute(
                "SELECT r.name, r.created_at, r.link_issued_at, "
                "(SELECT count(*) FROM choices c WHERE c.reviewer_id = r.id "
                " AND c.undone_at IS NULL) AS n_done FROM reviewers r ORDER BY r.id")
            return [dict(row) for row in rows]

    # ------------------------------------------------------------------ one reviewer
    @staticmethod
    def _state(db: sqlite3.Connection, reviewer_id: int) -> dict[str, Any]:
        n_pairs = db.execute("SELECT count(*) FROM assignments WHERE reviewer_id = ?",
                             (reviewer_id,)).fetchone()[0]
        n_done = db.execute("SELECT count(*) FROM choices WHERE reviewer_id = ? "
                            "AND undone_at IS NULL", (reviewer_id,)).fetchone()[0]
        current = db.execute(
            "SELECT min(a.position) FROM assignments a WHERE a.reviewer_id = ? AND NOT EXISTS "
            "(SELECT 1 FROM choices c WHERE c.reviewer_id = a.reviewer_id "
            " AND c.pair_id = a.pair_id AND c.undone_at IS NULL)", (reviewer_id,)).fetchone()[0]
        last = db.execute(
            "SELECT a.position, c.choice FROM choices c JOIN assignments a "
            "ON a.reviewer_id = c.reviewer_id AND a.pair_id = c.pair_id "
            "WHERE c.reviewer_id = ? AND c.undone_at IS NULL ORDER BY c.id DESC LIMIT 1",
            (reviewer_id,)).fetchone()
        return {"n_pairs": int(n_pairs), "n_done": int(n_done),
                "position": None if current is None else int(current),
                "last": None if last is None else {"position": int(last["position"]),
                                                   "choice": last["choice"]}}

    def state(self, reviewer: Reviewer) -> dict[str, Any]:
        """``n_pairs``, ``n_done``, ``position`` (the first pair without a choice, 1-based;
        None when all are done) and ``last`` (position and choice of the latest live
        choice, or None): everything the page needs, and only about this reviewer."""
        with self._connection() as db:
            return self._state(db, reviewer.id)

    def item(self, reviewer: Reviewer, position: int) -> dict[str, Any] | None:
        """What the page shows at ``position`` of this reviewer's order: size, the image
        file, the left and right outlines. None for a position the reviewer does not have.
        Which source is on which side is not part of it."""
        with self._connection() as db:
            row = db.execute(
                "SELECT p.uid, p.image_file, p.width, p.height, p.left_source, p.a_outline, "
                "p.b_outline FROM assignments a JOIN pairs p ON p.id = a.pair_id "
                "WHERE a.reviewer_id = ? AND a.position = ?", (reviewer.id, position)).fetchone()
        if row is None:
            return None
        a, b = json.loads(row["a_outline"]), json.loads(row["b_outline"])
        left, right = (a, b) if row["left_source"] == "a" else (b, a)
        return {"image_file": row["image_file"], "width": row["width"],
                "height": row["height"], "left": left, "right": right}

    def record_choice(self, reviewer: Reviewer, position: int, choice: str) -> dict[str, Any]:
        """Store ``choice`` for the pair at ``position`` and return the new state.

        Raises
        ------
        ValueError
            Not one of :data:`CHOICES`.
        ReviewConflict
            ``position`` is not the reviewer's current pair (another tab moved on).
        """
        if choice not in CHOICES:
            raise ValueError(f"choice must be one of {', '.join(CHOICES)}")
        with self._write() as db:
            state = self._state(db, reviewer.id)
            if state["position"] is None or position != state["position"]:
                raise ReviewConflict("this pair is not the one to review now; reload the page")
            pair_id = db.execute("SELECT pair_id FROM assignments WHERE reviewer_id = ? "
                                 "AND position = ?", (reviewer.id, position)).fetchone()[0]
            db.execute("INSERT INTO choices (reviewer_id, pair_id, choice, created_at) "
                       "VALUES (?, ?, ?, ?)", (reviewer.id, pair_id, choice, utc_now()))
            return self._state(db, reviewer.id)

    def undo_last(self, reviewer: Reviewer, position: int) -> dict[str, Any]:
        """Undo the reviewer's latest live choice, which must be the one at ``position``
        (so a stale page cannot undo another choice than the one it shows), and return the
        new state. The choice's row stays, marked ``undone_at``.

        Raises
        ------
        ReviewConflict
            Nothing to undo, or the latest choice is at another position.
        """
        with self._write() as db:
            last = db.execute(
                "SELECT c.id, a.position FROM choices c JOIN assignments a "
                "ON a.reviewer_id = c.reviewer_id AND a.pair_id = c.pair_id "
                "WHERE c.reviewer_id = ? AND c.undone_at IS NULL ORDER BY c.id DESC LIMIT 1",
                (reviewer.id,)).fetchone()
            if last is None or int(last["position"]) != position:
                raise ReviewConflict("that is not your latest choice; reload the page")
            db.execute("UPDATE choices SET undone_at = ? WHERE id = ? AND reviewer_id = ?",
                       (utc_now(), last["id"], reviewer.id))
            return self._state(db, reviewer.id)

    # ------------------------------------------------------------------ everything
    def pairs(self) -> list[dict[str, Any]]:
        """Every pair with its sides and files (for the organiser, never the page)."""
        with self._connection() as db:
            rows = db.execute("SELECT id, uid, name, image_file, a_file, b_file, left_source, "
                              "width, height, a_pixels, b_pixels FROM pairs ORDER BY id")
            return [dict(row) for row in rows]

    def choices(self, *, include_undone: bool = False) -> list[dict[str, Any]]:
        """Every choice, in the order made, with reviewer and pair names and the pair's
        ``left_source`` (for the report; never served)."""
        sql = ("SELECT c.id, r.name AS reviewer, p.name AS pair, p.left_source, c.choice, "
               "c.created_at, c.undone_at FROM choices c JOIN reviewers r ON r.id = "
               "c.reviewer_id JOIN pairs p ON p.id = c.pair_id")
        if not include_undone:
            sql += " WHERE c.undone_at IS NULL"
        with self._connection() as db:
            return [dict(row) for row in db.execute(sql + " ORDER BY c.id")]


def create_review(review_dir: str | PathLike[str], meta: Mapping[str, str],
                  pairs: Sequence[PairRecord]) -> ReviewStore:
    """Create ``review_dir/review.sqlite`` with ``meta`` and ``pairs``.

    The seed (``meta['seed']``) orders each reviewer's pairs; a random secret for the
    same-origin tokens is added. The database is readable by its owner only (it holds
    token hashes and which source is on which side).

    Raises
    ------
    FileExistsError
        A review database is already there (it is never overwritten).
    """
    review_dir = Path(review_dir)
    path = review_dir / DATABASE_NAME
    if path.exists():
        raise FileExistsError(f"{path} exists; prepare a new review in another folder")
    review_dir.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600, exist_ok=False)
    try:
        connection = _connect(path)
        try:
            connection.execute("PRAGMA journal_mode = WAL")
            connection.execute("BEGIN")
            # one by one: executescript() would commit the transaction first
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    connection.execute(statement)
            values = {**meta, "schema_version": str(SCHEMA_VERSION),
                      "secret": secrets.token_hex(32), "created_at": utc_now()}
            connection.executemany("INSERT INTO meta (key, value) VALUES (?, ?)",
                                   [(k, str(v)) for k, v in values.items()])
            connection.executemany(
                "INSERT INTO pairs (uid, name, image_file, a_file, b_file, left_source, width, "
                "height, a_pixels, b_pixels, a_outline, b_outline) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [(p.uid, p.name, p.image_file, p.a_file, p.b_file, p.left_source, p.width,
                  p.height, p.a_pixels, p.b_pixels, json.dumps(p.a_outline),
                  json.dumps(p.b_outline)) for p in pairs])
            connection.execute("COMMIT")
        finally:
            connection.close()
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return ReviewStore(review_dir)
