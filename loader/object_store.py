"""What a lake on object storage needs beyond a folder's operations.

- `remembering_files`: a store's filesystem that asks about each table file once per process;
- `access_remedy`: what to do about an error of the store's client;
- `protocol_of`: a filesystem's protocol name.
"""

from __future__ import annotations

import json
from typing import Any

from fsspec.asyn import AsyncFileSystem


def access_remedy(exc: Exception, bucket: str) -> str:
    """What to do about an error of the store's client, told by its class and errno."""
    name = type(exc).__name__
    if "Credentials" in name:
        return (
            "give the store's credentials through its standard chain (AWS_ACCESS_KEY_ID and"
            " AWS_SECRET_ACCESS_KEY, AWS_PROFILE, or the machine's role), never in the projects"
            " file"
        )
    if isinstance(exc, FileNotFoundError):
        return f"create the bucket {bucket}, or correct its name in --lake / AMPLITUDE_LAKE"
    if isinstance(exc, PermissionError):
        return f"grant these credentials list, read, write and delete on the bucket {bucket}"
    return (
        "check the store's address (AWS_ENDPOINT_URL for an S3-compatible server), the network"
        " to it and its region, then run again"
    )


def remembering_files(fs: Any) -> Any:
    """A copy of a remote filesystem whose `info` of a file (size, time) is asked for once.

    DuckDB opened every file of a snapshot about eight times to build the catalog and the
    duplicate index, and asked the store for its size and time each time: 582 of 849 requests
    of a one-day load into S3 were such HEADs. Table files never change once written, so the
    answer is kept, by every copy of the same store in this process; the loader's notes
    (`_state/`), which are replaced, are always asked again.
    """
    if not isinstance(fs, AsyncFileSystem):  # s3fs, gcsfs and adlfs all are
        return fs
    store = json.dumps([protocol_of(fs), fs.storage_options], sort_keys=True, default=str)
    remembered = _REMEMBERED.setdefault(store, {})

    # The asynchronous methods are the ones to wrap: `info`, `size`, `exists` and `open` all
    # end in them.
    class RememberingFiles(type(fs)):  # type: ignore[misc]
        async def _info(self, path: str, *args: Any, **kwargs: Any) -> dict[str, Any]:
            key = self._strip_protocol(path)
            found = remembered.get(key)
            if found is None:
                found = await super()._info(path, *args, **kwargs)
                if found.get("type") == "file" and f"/{NOTES}/" not in key:
                    remembered[key] = found
            return dict(found)

        async def _exists(self, path: str, *args: Any, **kwargs: Any) -> bool:
            if self._strip_protocol(path) in remembered:
                return True
            return bool(await super()._exists(path, *args, **kwargs))

    return RememberingFiles(**fs.storage_options, skip_instance_cache=True)


#: What `remembering_files` learnt of table files, by store: the same in every copy.
_REMEMBERED: dict[str, dict[str, dict[str, Any]]] = {}


#: The folder of each project's notes (last run, quotas): the only files ever replaced.
NOTES = "_state"


def protocol_of(fs: Any) -> str:
    """The protocol a filesystem is addressed by (`s3` for s3fs, whose list is `s3`, `s3a`)."""
    protocol = fs.protocol
    return str(protocol[0] if isinstance(protocol, (tuple, list)) else protocol)
