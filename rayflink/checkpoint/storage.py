"""Checkpoint storage: where snapshots and checkpoint metadata live, addressed by URI.

``CheckpointStorage.from_uri`` gives a ``file://`` (or plain path) storage on
local/shared disk or an ``s3://bucket/prefix`` storage through boto3. Paths
inside a storage are relative, ``/``-separated (``chk-3/_metadata``). Every
failure raises :class:`CheckpointStorageError` naming the storage URI, the
path and the underlying error.

To add behaviour (fault injection, latency, metrics), subclass
:class:`ForwardingCheckpointStorage` and override only what you need.
"""

from __future__ import annotations

import abc
import builtins
import contextlib
import os
import posixpath
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from rayflink.common import config_options as options
from rayflink.errors import RayflinkError

__all__ = [
    "CheckpointStorage",
    "CheckpointStorageError",
    "FileSystemCheckpointStorage",
    "ForwardingCheckpointStorage",
    "S3CheckpointStorage",
    "storage_options",
]

_TMP_PREFIX = ".tmp-"
_S3_SCHEMES = ("s3", "s3a", "s3p")
_OPTION_PREFIXES = ("s3.",)


def storage_options(config: Mapping[str, Any]) -> dict[str, Any]:
    """The options of a job configuration that say how to reach checkpoint storage (``s3.*``).

    The job master and every task actor open storages with them, so an endpoint or credentials
    given in the job configuration reach the whole job, not only where an environment variable
    happens to be set.

    >>> storage_options({"s3.endpoint": "http://127.0.0.1:9000", "parallelism.default": 2})
    {'s3.endpoint': 'http://127.0.0.1:9000'}
    """
    return {k: v for k, v in config.items() if isinstance(k, str) and k.startswith(_OPTION_PREFIXES)}


class CheckpointStorageError(RayflinkError):
    """A checkpoint storage operation failed.

    ``str(error)`` reads like ``checkpoint storage s3://bucket/x: cannot write
    chk-3/_metadata: NoSuchBucket: The specified bucket does not exist``.
    ``uri`` is the storage's URI, ``path`` the relative path (or ``None``).
    """

    def __init__(self, message: str, *, uri: str, path: str | None = None) -> None:
        super().__init__(message)
        self.uri = uri
        self.path = path


def _describe(error: BaseException) -> str:
    """``Code: message`` for botocore errors, ``Type: message`` for the rest."""
    response = getattr(error, "response", None)
    if isinstance(response, dict) and "Error" in response:
        err = response["Error"]
        code = err.get("Code") or type(error).__name__
        msg = err.get("Message") or str(error)
        return f"{code}: {msg}"
    if type(error).__name__ in ("ReadTimeoutError", "ConnectTimeoutError"):
        return (f"{type(error).__name__}: {error} (no answer in time; the limits are s3.connection.timeout, "
                "s3.connection.establish.timeout and s3.attempts.maximum)")
    return f"{type(error).__name__}: {error}"


def _check_relpath(uri: str, relpath: str, *, allow_empty: bool = False) -> str:
    """Normalise a relative path; reject absolute paths and ``..``."""
    if not isinstance(relpath, str):
        raise CheckpointStorageError(
            f"checkpoint storage {uri}: path must be a str, got {type(relpath).__name__}", uri=uri)
    trailing = relpath.endswith("/")
    norm = posixpath.normpath(relpath) if relpath else ""
    norm = "" if norm == "." else norm
    if relpath.startswith("/") or norm == ".." or norm.startswith("../") or (not norm and not allow_empty):
        raise CheckpointStorageError(
            f"checkpoint storage {uri}: invalid path {relpath!r}: use a non-empty path relative "
            f"to the storage root, without '..'", uri=uri, path=relpath)
    return norm + "/" if trailing and norm else norm


class CheckpointStorage(abc.ABC):
    """Byte storage for checkpoints and savepoints, rooted at a URI.

    >>> storage = CheckpointStorage.from_uri("file:///tmp/checkpoints/job-1")
    >>> storage.write_bytes("chk-1/_metadata", b"{}")
    >>> storage.list("chk-1/")
    ['chk-1/_metadata']

    All methods raise :class:`CheckpointStorageError` on failure. Instances
    pickle as ``(uri, options)`` so they can be shipped to task actors.
    """

    def __init__(self, uri: str, options: Mapping[str, Any] | None = None) -> None:
        self._uri = uri
        self._options = dict(options or {})

    @staticmethod
    def from_uri(uri: str, options: Mapping[str, Any] | None = None) -> CheckpointStorage:
        """Open the storage for ``uri``: ``file:///abs/path``, a plain path, or ``s3://bucket/prefix``.

        ``options`` (Flink names): ``s3.endpoint``, ``s3.path.style.access``,
        ``s3.region``, ``s3.access-key``, ``s3.secret-key``, and each request's
        ``s3.connection.establish.timeout`` (connect, default 10 s),
        ``s3.connection.timeout`` (waiting for an answer, default 60 s) and
        ``s3.attempts.maximum`` (retries, default 3). Without ``s3.endpoint`` the
        ``AWS_ENDPOINT_URL`` environment variable is used.
        Raises :class:`CheckpointStorageError` for an unsupported scheme.
        """
        if not isinstance(uri, str) or not uri:
            raise CheckpointStorageError(
                f"checkpoint storage {uri!r}: expected a URI such as file:///path or s3://bucket/prefix",
                uri=str(uri))
        parsed = urlparse(uri)
        scheme = parsed.scheme.lower()
        if scheme in _S3_SCHEMES:
            return S3CheckpointStorage(uri, options)
        if scheme == "file" or scheme == "" or (len(scheme) == 1 and os.name == "nt"):
            return FileSystemCheckpointStorage(uri, options)
        raise CheckpointStorageError(
            f"checkpoint storage {uri}: unsupported scheme {parsed.scheme!r}; "
            f"use file:///absolute/path or s3://bucket/prefix", uri=uri)

    @property
    def uri(self) -> str:
        """The storage root as a canonical URI (``file:///...`` or ``s3://bucket/prefix``)."""
        return self._uri

    @property
    def options(self) -> dict[str, Any]:
        """A copy of the options the storage was opened with."""
        return dict(self._options)

    def __reduce__(self) -> tuple[Any, ...]:
        return (CheckpointStorage.from_uri, (self._uri, self._options))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._uri!r})"

    @contextlib.contextmanager
    def _failing(self, action: str, relpath: str | None) -> Iterator[None]:
        """Turn any exception inside the block into a :class:`CheckpointStorageError`."""
        try:
            yield
        except CheckpointStorageError:
            raise
        except Exception as e:
            where = f" {relpath}" if relpath else ""
            raise CheckpointStorageError(
                f"checkpoint storage {self._uri}: cannot {action}{where}: {_describe(e)}",
                uri=self._uri, path=relpath) from e

    def uri_of(self, relpath: str) -> str:
        """The full URI of ``relpath`` inside this storage."""
        rel = _check_relpath(self._uri, relpath, allow_empty=True)
        return self._uri.rstrip("/") + ("/" + rel if rel else "")

    @abc.abstractmethod
    def write_bytes(self, relpath: str, data: bytes) -> None:
        """Write ``data`` to ``relpath`` atomically (readers see all or nothing), replacing it."""

    @abc.abstractmethod
    def read_bytes(self, relpath: str) -> bytes:
        """Read the whole of ``relpath``; a missing path is an error."""

    @abc.abstractmethod
    def exists(self, relpath: str) -> bool:
        """Whether a file/object exists at ``relpath`` (directories do not count)."""

    @abc.abstractmethod
    def list(self, prefix: str = "") -> list[str]:
        """Relative paths of all files/objects whose path starts with ``prefix``, sorted.

        ``prefix`` is a string prefix, as in S3: ``"chk-1"`` also matches
        ``"chk-10/..."``; pass ``"chk-1/"`` for one checkpoint's directory.
        """

    @abc.abstractmethod
    def delete(self, relpath: str) -> None:
        """Delete ``relpath``; deleting a missing path is not an error."""

    @abc.abstractmethod
    def delete_prefix(self, prefix: str) -> int:
        """Delete everything :meth:`list` would return for ``prefix``, and what interrupted
        writes left there (see :meth:`discard_temporary`); return how many :meth:`list` gave."""

    def discard_temporary(self, prefix: str = "", before: float | None = None) -> int:
        """Delete what interrupted writes left under ``prefix`` (a writer killed mid-write),
        last written before ``before`` (epoch seconds; None: all); return how many. Such a
        write still under way fails. Object stores leave nothing."""
        return 0

    @abc.abstractmethod
    def upload_file(self, local_path: str | os.PathLike[str], relpath: str) -> None:
        """Copy a local file (e.g. a RocksDB SST file) to ``relpath``, atomically."""

    @abc.abstractmethod
    def download_file(self, relpath: str, local_path: str | os.PathLike[str]) -> None:
        """Copy ``relpath`` to a local file, creating its parent directories."""


class ForwardingCheckpointStorage(CheckpointStorage):
    """Delegates every operation to ``inner``; subclass it to wrap a storage.

    >>> class Counting(ForwardingCheckpointStorage):
    ...     writes = 0
    ...     def write_bytes(self, relpath, data):
    ...         self.writes += 1
    ...         super().write_bytes(relpath, data)
    """

    def __init__(self, inner: CheckpointStorage) -> None:
        super().__init__(inner.uri, inner.options)
        self.inner = inner

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.inner,))

    def uri_of(self, relpath: str) -> str:
        return self.inner.uri_of(relpath)

    def write_bytes(self, relpath: str, data: bytes) -> None:
        self.inner.write_bytes(relpath, data)

    def read_bytes(self, relpath: str) -> bytes:
        return self.inner.read_bytes(relpath)

    def exists(self, relpath: str) -> bool:
        return self.inner.exists(relpath)

    def list(self, prefix: str = "") -> list[str]:
        return self.inner.list(prefix)

    def delete(self, relpath: str) -> None:
        self.inner.delete(relpath)

    def delete_prefix(self, prefix: str) -> int:
        return self.inner.delete_prefix(prefix)

    def discard_temporary(self, prefix: str = "", before: float | None = None) -> int:
        return self.inner.discard_temporary(prefix, before)

    def upload_file(self, local_path: str | os.PathLike[str], relpath: str) -> None:
        self.inner.upload_file(local_path, relpath)

    def download_file(self, relpath: str, local_path: str | os.PathLike[str]) -> None:
        self.inner.download_file(relpath, local_path)


class FileSystemCheckpointStorage(CheckpointStorage):
    """Checkpoint storage in a local or shared-filesystem directory (``file://``).

    Writes go to a hidden temporary file in the target directory, are fsynced,
    then renamed into place, so a crash never leaves a partial file under the
    final name. Temporary files are never listed.
    """

    def __init__(self, uri: str, options: Mapping[str, Any] | None = None) -> None:
        parsed = urlparse(uri)
        if parsed.scheme.lower() == "file":
            if parsed.netloc not in ("", "localhost"):
                raise CheckpointStorageError(
                    f"checkpoint storage {uri}: file URI with host {parsed.netloc!r}; "
                    f"use file:///absolute/path", uri=uri)
            path = Path(unquote(parsed.path))
        else:
            path = Path(uri).expanduser()
        self.root = path.resolve()
        super().__init__(self.root.as_uri(), options)

    def _path(self, relpath: str, *, allow_empty: bool = False) -> Path:
        return self.root / _check_relpath(self._uri, relpath, allow_empty=allow_empty)

    def _atomic_write(self, target: Path, write: Any) -> None:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=_TMP_PREFIX, dir=target.parent)
        try:
            with os.fdopen(fd, "wb") as f:
                write(f)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, target)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise

    def write_bytes(self, relpath: str, data: bytes) -> None:
        with self._failing("write", relpath):
            self._atomic_write(self._path(relpath), lambda f: f.write(data))

    def read_bytes(self, relpath: str) -> bytes:
        with self._failing("read", relpath):
            return self._path(relpath).read_bytes()

    def exists(self, relpath: str) -> bool:
        with self._failing("check", relpath):
            return self._path(relpath).is_file()

    def list(self, prefix: str = "") -> list[str]:
        with self._failing("list", prefix or "/"):
            return self._walk(prefix, temporary=False)

    def _walk(self, prefix: str, temporary: bool) -> builtins.list[str]:  # (``list`` is a method here)
        """Files under ``prefix``: the stored ones, or the temporary files of writes."""
        prefix = _check_relpath(self._uri, prefix, allow_empty=True) if prefix else ""
        # Walk only the deepest directory the prefix is certainly inside.
        start = self.root / posixpath.dirname(prefix) if "/" in prefix else self.root
        if not start.is_dir():
            return []
        found = []
        for dirpath, _dirs, files in os.walk(start):
            for name in files:
                if name.startswith(_TMP_PREFIX) != temporary:
                    continue
                rel = Path(dirpath, name).relative_to(self.root).as_posix()
                # (a temporary file's name is random: its directory must match the prefix)
                if (posixpath.dirname(rel) + "/" if temporary else rel).startswith(prefix):
                    found.append(rel)
        return sorted(found)

    def delete(self, relpath: str) -> None:
        with self._failing("delete", relpath):
            self._path(relpath).unlink(missing_ok=True)

    def discard_temporary(self, prefix: str = "", before: float | None = None) -> int:
        with self._failing("delete temporary files under", prefix or "/"):
            leftovers = []
            for rel in self._walk(prefix, temporary=True):
                with contextlib.suppress(FileNotFoundError):  # renamed into place meanwhile
                    if before is None or (self.root / rel).stat().st_mtime < before:
                        (self.root / rel).unlink()
                        leftovers.append(rel)
        return len(leftovers)

    def delete_prefix(self, prefix: str) -> int:
        paths = self.list(prefix)
        with self._failing("delete under", prefix):
            gone = paths + self._walk(prefix, temporary=True)
            for rel in gone:
                (self.root / rel).unlink(missing_ok=True)
            # Remove directories left empty, deepest first, never the root.
            dirs = {p for rel in gone for p in (self.root / rel).parents if p != self.root
                    and self.root in p.parents}
            for d in sorted(dirs, key=lambda p: len(p.parts), reverse=True):
                with contextlib.suppress(OSError):
                    d.rmdir()
        return len(paths)

    def upload_file(self, local_path: str | os.PathLike[str], relpath: str) -> None:
        with self._failing("upload to", relpath):
            with open(local_path, "rb") as src:
                self._atomic_write(self._path(relpath), lambda f: shutil.copyfileobj(src, f, 1 << 20))

    def download_file(self, relpath: str, local_path: str | os.PathLike[str]) -> None:
        with self._failing("download", relpath):
            Path(local_path).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(self._path(relpath), local_path)


def _request_limits(opts: Mapping[str, Any]) -> tuple[float, float, int]:
    """Every S3 request's connect and read timeouts (s) and retries, so that a frozen endpoint
    fails a call instead of hanging it."""
    return (options.get(opts, options.S3_CONNECTION_ESTABLISH_TIMEOUT) / 1000,
            options.get(opts, options.S3_CONNECTION_TIMEOUT) / 1000, options.get(opts, options.S3_ATTEMPTS_MAXIMUM))


class S3CheckpointStorage(CheckpointStorage):
    """Checkpoint storage in an S3 bucket under a key prefix (``s3://bucket/prefix``).

    Object writes are atomic by nature. The boto3 client is created on first
    use (so the storage pickles cheaply); with an endpoint (``s3.endpoint`` or
    ``AWS_ENDPOINT_URL``) path-style addressing is used unless
    ``s3.path.style.access`` is ``false``.
    """

    def __init__(self, uri: str, options: Mapping[str, Any] | None = None) -> None:
        parsed = urlparse(uri)
        self.bucket = parsed.netloc
        self.prefix = parsed.path.strip("/")
        if not self.bucket:
            raise CheckpointStorageError(
                f"checkpoint storage {uri}: no bucket; use s3://bucket/prefix", uri=uri)
        canonical = f"s3://{self.bucket}" + (f"/{self.prefix}" if self.prefix else "")
        super().__init__(canonical, options)
        self._client: Any = None
        # checked here, not on first use: a bad value fails where the storage is opened
        self._connect_timeout_s, self._read_timeout_s, self._retries = _request_limits(self._options)

    @property
    def client(self) -> Any:
        """The boto3 S3 client (created on first use)."""
        if self._client is None:
            with self._failing("create an S3 client for", None):
                self._client = self._make_client()
        return self._client

    def _make_client(self) -> Any:
        import boto3
        from botocore.config import Config

        opts = self._options
        endpoint = options.get(opts, options.S3_ENDPOINT) or os.environ.get("AWS_ENDPOINT_URL") or None
        path_style = options.get(opts, options.S3_PATH_STYLE_ACCESS)
        path_style = endpoint is not None if path_style is None else path_style
        region = options.get(opts, options.S3_REGION) or os.environ.get("AWS_REGION") \
            or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
        kwargs: dict[str, Any] = {}
        if options.get(opts, options.S3_ACCESS_KEY):
            kwargs["aws_access_key_id"] = options.get(opts, options.S3_ACCESS_KEY)
            kwargs["aws_secret_access_key"] = options.get(opts, options.S3_SECRET_KEY)
        return boto3.session.Session().client(
            "s3", endpoint_url=endpoint, region_name=region,
            config=Config(s3={"addressing_style": "path" if path_style else "auto"},
                          connect_timeout=self._connect_timeout_s, read_timeout=self._read_timeout_s,
                          retries={"max_attempts": self._retries, "mode": "standard"}),
            **kwargs)

    def _key(self, relpath: str, *, allow_empty: bool = False) -> str:
        rel = _check_relpath(self._uri, relpath, allow_empty=allow_empty)
        return f"{self.prefix}/{rel}" if self.prefix else rel

    def _rel(self, key: str) -> str:
        return key[len(self.prefix) + 1:] if self.prefix else key

    def write_bytes(self, relpath: str, data: bytes) -> None:
        with self._failing("write", relpath):
            self.client.put_object(Bucket=self.bucket, Key=self._key(relpath), Body=bytes(data))

    def read_bytes(self, relpath: str) -> bytes:
        with self._failing("read", relpath):
            response = self.client.get_object(Bucket=self.bucket, Key=self._key(relpath))
            return response["Body"].read()

    def exists(self, relpath: str) -> bool:
        with self._failing("check", relpath):
            try:
                self.client.head_object(Bucket=self.bucket, Key=self._key(relpath))
                return True
            except Exception as e:
                code = str(getattr(e, "response", {}).get("Error", {}).get("Code", ""))
                if code in ("404", "NoSuchKey", "NotFound"):
                    return False
                raise

    def list(self, prefix: str = "") -> list[str]:
        with self._failing("list", prefix or "/"):
            key_prefix = self._key(prefix, allow_empty=True) if prefix else (
                f"{self.prefix}/" if self.prefix else "")
            found: list[str] = []
            paginator = self.client.get_paginator("list_objects_v2")
            for page in paginator.paginate(Bucket=self.bucket, Prefix=key_prefix):
                found.extend(self._rel(obj["Key"]) for obj in page.get("Contents", ()))
            return sorted(found)

    def delete(self, relpath: str) -> None:
        with self._failing("delete", relpath):
            self.client.delete_object(Bucket=self.bucket, Key=self._key(relpath))

    def delete_prefix(self, prefix: str) -> int:
        rels = self.list(prefix)
        with self._failing("delete under", prefix):
            for i in range(0, len(rels), 1000):
                chunk = [{"Key": self._key(rel)} for rel in rels[i:i + 1000]]
                response = self.client.delete_objects(
                    Bucket=self.bucket, Delete={"Objects": chunk, "Quiet": True})
                errors = response.get("Errors") or []
                if errors:
                    first = errors[0]
                    raise RuntimeError(f"{len(errors)} objects not deleted, first {first.get('Key')}: "
                                       f"{first.get('Code')}: {first.get('Message')}")
        return len(rels)

    def upload_file(self, local_path: str | os.PathLike[str], relpath: str) -> None:
        with self._failing("upload to", relpath):
            self.client.upload_file(os.fspath(local_path), self.bucket, self._key(relpath))

    def download_file(self, relpath: str, local_path: str | os.PathLike[str]) -> None:
        with self._failing("download", relpath):
            Path(local_path).parent.mkdir(parents=True, exist_ok=True)
            self.client.download_file(self.bucket, self._key(relpath), os.fspath(local_path))
