"""The store's credentials appear nowhere: in no output or log, no lake file, no catalog.

The commands run with debug logging (`-vv`), where the S3 client logs its requests, against the
loopback S3 server; the credentials come from the standard `AWS_*` variables. Every byte they
wrote is then searched for the key id and the secret, raw and in the encodings a header, a URL
or a dump would give them.
"""

from __future__ import annotations

import os
from pathlib import Path

from loader.emulator import EmulatorServer, SyntheticProject
from tests.conftest import NOW, START
from tests.loader_process import run_loader
from tests.object_storage.lakes import bucket_files, credential_leaks


def test_no_command_writes_the_store_credentials_anywhere(bucket: str, tmp_path: Path) -> None:
    synthetic = SyntheticProject(events_per_hour=20, part_events=20)
    url = f"s3://{bucket}/lake"
    catalog = tmp_path / "warehouse" / "catalog.duckdb"
    env = {k: v for k, v in os.environ.items() if not k.startswith("AMPLITUDE_")}
    env.update(
        AMPLITUDE_API_KEY=synthetic.api_key,
        AMPLITUDE_SECRET_KEY=synthetic.secret_key,
        AMPLITUDE_PROJECT_ID="100001",
        AMPLITUDE_LAKE=url,
        AMPLITUDE_CATALOG=str(catalog),
    )
    outputs = []
    with EmulatorServer([synthetic], now=NOW, gzip_level=1) as server:
        for command in (
            ["backfill", "--start", f"{START:%Y%m%dT%H}", "--end", f"{START:%Y%m%d}T05"],
            [
                "backfill",
                "--start",
                f"{START:%Y%m%d}T02",
                "--end",
                f"{START:%Y%m%d}T03",
                "--reload",
            ],
            ["status"],
            ["query", "SELECT count(*) AS events FROM amplitude.events"],
            ["vacuum", "--retention-hours", "0"],
        ):
            args = ["-vv", *command]
            if command[0] == "backfill":
                args += ["--base-url", server.url]
            done = run_loader(args, env, tmp_path / "out")
            assert done.returncode == 0, (command, done.stderr[-3000:])
            outputs.append(done.stdout + done.stderr)
    everything = "\n".join(outputs)
    # The commands did what they say, through the S3 client (its debug log is there).
    assert "botocore" in everything or "s3fs" in everything
    expected = sum(
        len({e["uuid"] for e in synthetic.events(START.replace(hour=h))}) for h in range(6)
    )
    assert "events" in outputs[3] and f"{expected}" in outputs[3], outputs[3][-2000:]

    assert not credential_leaks(everything.encode()), credential_leaks(everything.encode())
    stored = bucket_files(url)
    assert any("/_delta_log/" in p for p in stored)  # the tables' logs are scanned too
    for path, data in stored.items():
        assert not credential_leaks(data), path
    local = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert any(p.suffix == ".duckdb" for p in local)
    for path in local:
        assert not credential_leaks(path.read_bytes()), path
