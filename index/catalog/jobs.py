"""Jobs and API keys in the catalog, so that every server process of a library sees the same
ones (revision 0006). :class:`JobBoard` and :class:`KeyRing` take the catalog's session factory
and its ``transaction``; they hand out :class:`~tempme.index.reports.JobRecord` and
:class:`~tempme.index.reports.ApiKeyInfo`, never ORM rows.

Keys: ``tm_`` + 43 URL-safe characters (256 random bits, :func:`secrets.token_urlsafe`); only
the SHA-256 of the whole key is stored (a key this random needs no slow hash), with its first
:data:`PREFIX_CHARS` characters to find the row. The secret is shown once, at creation.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import secrets
import uuid
from collections.abc import Callable
from contextlib import AbstractContextManager

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker
from tempme.index.catalog.models import ApiKey, Job, utcnow
from tempme.index.reports import JOB_KINDS, ApiKeyInfo, JobRecord

KEY_PREFIX = "tm_"
PREFIX_CHARS = 11  # "tm_" + 8 characters: enough to find the row, too few to guess the key
Transaction = Callable[[str], AbstractContextManager[Session]]


def _iso(t: dt.datetime | None) -> str | None:
    return None if t is None else t.isoformat(timespec="seconds") + "Z"


def _job(row: Job) -> JobRecord:
    return JobRecord(
        row.id, row.kind, row.status, row.owner, _iso(row.created_at), _iso(row.started_at), _iso(row.finished_at),
        row.videos_total, row.videos_done, row.total_s, row.done_s, row.current, row.summary, row.error,
        bool(row.cancel_requested), tuple(json.loads(row.paths_json)), tuple(json.loads(row.videos_json)),
    )  # fmt: skip


class JobBoard:
    """The library's jobs. ``owner``: who runs a job (host:pid), for people reading the list."""

    def __init__(self, session: sessionmaker[Session], transaction: Transaction) -> None:
        self.session, self.transaction = session, transaction

    def create(self, kind: str, paths: list[str], owner: str) -> JobRecord:
        """A new ``queued`` job of ``kind`` (``upload`` or ``folder``) over ``paths``."""
        if kind not in JOB_KINDS:
            raise ValueError(f"job kind must be one of {', '.join(JOB_KINDS)}, got {kind!r}")
        row = Job(id=uuid.uuid4().hex, kind=kind, status="queued", owner=owner[:128], created_at=utcnow(),
                  videos_total=0, videos_done=0, total_s=0.0, done_s=0.0, cancel_requested=False,
                  paths_json=json.dumps(paths), videos_json="[]")  # fmt: skip
        with self.transaction("recording a job") as s:
            s.add(row)
            s.flush()
            return _job(row)

    def get(self, job_id: str) -> JobRecord:
        """Raises KeyError for an unknown id."""
        with self.session() as s:
            row = s.get(Job, str(job_id)[:32])
            if row is None:
                raise KeyError(f"no job {job_id}")
            return _job(row)

    def recent(self, limit: int = 50) -> list[JobRecord]:
        """The newest ``limit`` jobs, newest first."""
        with self.session() as s:
            return [_job(r) for r in s.scalars(select(Job).order_by(Job.created_at.desc()).limit(limit))]

    def counts(self) -> dict[str, int]:
        """status -> number of jobs."""
        with self.session() as s:
            return {st: int(n) for st, n in s.execute(select(Job.status, func.count(Job.id)).group_by(Job.status))}

    def update(self, job_id: str, **values) -> None:
        """Set columns of a job (``status``, progress, ``summary``, ``error``, ``videos``...);
        ``status`` ``running`` stamps ``started_at``, a final one ``finished_at``."""
        if "videos" in values:
            values["videos_json"] = json.dumps(list(values.pop("videos")))
        status = values.get("status")
        if status == "running":
            values.setdefault("started_at", utcnow())
        elif status in ("done", "failed", "cancelled"):
            values.setdefault("finished_at", utcnow())
        with self.transaction("updating a job") as s:
            s.execute(update(Job).where(Job.id == job_id).values(**values))

    def request_cancel(self, job_id: str) -> JobRecord:
        """Ask the process running the job to stop it (a queued job is cancelled at once).
        Raises KeyError for an unknown id; a finished job is returned as it is."""
        with self.transaction("cancelling a job") as s:
            row = s.get(Job, str(job_id)[:32])
            if row is None:
                raise KeyError(f"no job {job_id}")
            if row.status in ("queued", "running"):
                row.cancel_requested = True
            s.flush()
            return _job(row)

    def cancel_requested(self, job_id: str) -> bool:
        with self.session() as s:
            return bool(s.scalar(select(Job.cancel_requested).where(Job.id == job_id)))


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def _key(row: ApiKey) -> ApiKeyInfo:
    return ApiKeyInfo(row.id, row.name, row.prefix, _iso(row.created_at), _iso(row.last_used_at), _iso(row.revoked_at))


class KeyRing:
    """The library's API keys (see the module docstring)."""

    def __init__(self, session: sessionmaker[Session], transaction: Transaction) -> None:
        self.session, self.transaction = session, transaction

    def create(self, name: str) -> tuple[ApiKeyInfo, str]:
        """A new key named ``name``: its record and the secret (shown once, never stored).

        Raises ValueError: an empty or too long name, or one already used (revoked keys keep theirs)."""
        name = " ".join(str(name).split())
        if not 1 <= len(name) <= 64:
            raise ValueError(f"a key name has 1 to 64 characters, got {len(name)}")
        secret = KEY_PREFIX + secrets.token_urlsafe(32)
        row = ApiKey(name=name, prefix=secret[:PREFIX_CHARS], secret_hash=key_hash(secret), created_at=utcnow())
        try:
            with self.transaction("creating an API key") as s:
                s.add(row)
                s.flush()
                return _key(row), secret
        except IntegrityError:
            raise ValueError(f"there is already a key named {name!r} (tempme keys list)") from None

    def list(self) -> list[ApiKeyInfo]:
        with self.session() as s:
            return [_key(r) for r in s.scalars(select(ApiKey).order_by(ApiKey.id))]

    def any_active(self) -> bool:
        with self.session() as s:
            return bool(s.scalar(select(func.count(ApiKey.id)).where(ApiKey.revoked_at.is_(None))))

    def revoke(self, name: str) -> ApiKeyInfo:
        """Revoke the key named ``name`` (its row stays, marked). Raises KeyError for no such key."""
        with self.transaction("revoking an API key") as s:
            row = s.scalars(select(ApiKey).where(ApiKey.name == " ".join(str(name).split()))).first()
            if row is None:
                raise KeyError(f"no key named {name!r}")
            row.revoked_at = row.revoked_at or utcnow()
            s.flush()
            return _key(row)

    def verify(self, key: str) -> ApiKeyInfo | None:
        """The active key whose secret is ``key``, or None (compared in constant time)."""
        if not isinstance(key, str) or not key.startswith(KEY_PREFIX) or len(key) > 128:
            return None
        digest = key_hash(key)
        with self.session() as s:
            rows = s.scalars(select(ApiKey).where(ApiKey.prefix == key[:PREFIX_CHARS], ApiKey.revoked_at.is_(None)))
            for row in rows:
                if hmac.compare_digest(row.secret_hash, digest):
                    return _key(row)
        return None

    def touch(self, key_id: int) -> None:
        """Record that the key was used now."""
        with self.transaction("recording an API key's use") as s:
            s.execute(update(ApiKey).where(ApiKey.id == key_id).values(last_used_at=utcnow()))
