"""A lake on object storage that cannot be used fails at once and says what to do."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from loader.emulator import EmulatorServer, SyntheticProject
from tests.conftest import NOW, S3_CREDENTIALS
from tests.loader_process import run_loader


@pytest.mark.parametrize(
    ("case", "said", "remedy"),
    [
        ("no bucket", "FileNotFoundError", "create the bucket no-such-bucket"),
        ("no credentials", "NoCredentialsError", "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"),
        ("store unreachable", "EndpointConnectionError", "AWS_ENDPOINT_URL"),
        ("unknown protocol", "Protocol not known", 'pip install "amplitude-loader[s3]"'),
    ],
)
def test_a_lake_that_cannot_be_used_is_named_with_its_remedy(
    case: str, said: str, remedy: str, s3_endpoint: str, bucket: str, tmp_path: Path
) -> None:
    synthetic = SyntheticProject(events_per_hour=5, part_events=20)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "AMPLITUDE_"))}
    # The credential chain would ask the cloud's instance metadata service next: not here.
    env.update(AWS_EC2_METADATA_DISABLED="true", AWS_MAX_ATTEMPTS="1")
    env.update(AMPLITUDE_API_KEY=synthetic.api_key, AMPLITUDE_SECRET_KEY=synthetic.secret_key)
    env.update(AMPLITUDE_PROJECT_ID="100001", AMPLITUDE_CATALOG=str(tmp_path / "c.duckdb"))
    lake = {
        "no bucket": "s3://no-such-bucket/lake",
        "no credentials": f"s3://{bucket}/lake",
        "store unreachable": f"s3://{bucket}/lake",
        "unknown protocol": "nosuchstore://bucket/lake",
    }[case]
    env["AMPLITUDE_LAKE"] = lake
    if case != "no credentials":
        env.update(S3_CREDENTIALS)
    env["AWS_ENDPOINT_URL"] = "http://127.0.0.1:9" if case == "store unreachable" else s3_endpoint
    with EmulatorServer([synthetic], now=NOW, gzip_level=1) as server:
        args = ["backfill", "--start", "20240301T00", "--end", "20240301T01"]
        done = run_loader([*args, "--base-url", server.url], env, tmp_path / "out")
        assert done.returncode == 2, done.stderr[-2000:]
        assert not server.export_requests()  # nothing was downloaded for nothing
    assert f"the lake {lake} cannot be" in done.stderr and said in done.stderr, done.stderr
    assert remedy in done.stderr and "unexpected" not in done.stderr, done.stderr
