"""Keys never appear in logs, errors, repr or any file the loader writes."""

from __future__ import annotations

import base64
import logging
import os
from pathlib import Path
from urllib.parse import quote, quote_plus

import pytest

from loader.amplitude.config import LoaderSettings, ProjectConfig
from loader.amplitude.export_api import AUTH_HINT
from loader.amplitude.runner import sync_projects
from loader.emulator import EmulatorServer, SyntheticProject
from loader.emulator.faults import FaultRule
from loader.errors import AuthError, LoaderError
from loader.secrets import Secret, redact
from tests.conftest import LAST, NOW
from tests.loader_process import Finished, run_loader
from tests.secret_leaks import leaks

API_KEY = "api-key-7f3a9c1e"
SECRET_KEY = "secret-key-0b5d2e88"


def test_keys_never_reach_logs_errors_or_files(
    tmp_path: Path, settings: LoaderSettings, caplog: pytest.LogCaptureFixture
) -> None:
    synthetic = SyntheticProject(api_key=API_KEY, secret_key=SECRET_KEY, events_per_hour=20)
    caplog.set_level(logging.DEBUG)
    with EmulatorServer([synthetic], now=NOW, gzip_level=1) as server:
        good = ProjectConfig(
            synthetic.project_id, Secret(API_KEY), Secret(SECRET_KEY), base_url=server.url
        )
        server.faults.set([FaultRule(kind="503", times=1), FaultRule(kind="corrupt_member")])
        sync_projects([good], settings, start=LAST, now=NOW)
        bad = ProjectConfig(
            synthetic.project_id, Secret(API_KEY), Secret(SECRET_KEY + "x"), base_url=server.url
        )
        with pytest.raises(LoaderError) as error:
            sync_projects([bad], settings, start=LAST, now=NOW, reload=True)

    texts = [caplog.text, str(error.value), repr(good), repr(bad), str(good.api_key)]
    for text in texts:
        assert API_KEY not in text and SECRET_KEY not in text
    for path in tmp_path.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert API_KEY.encode() not in data and SECRET_KEY.encode() not in data, path


def test_redact_masks_registered_secrets_in_any_text() -> None:
    Secret("very-secret-value-123")
    assert redact("failed with very-secret-value-123 in it") == "failed with *** in it"


ECHO_API_KEY = "k3y-Alpha_7f3e91c0b2d4a8e6"
ECHO_SECRET_KEY = "s3cr3t/With+Special=Chars&more"
#: The issue's server: `route not found: ` and 150 characters, then the keys; the loader quotes
#: 200 characters of a 404's body, so the cut falls 21 characters into the secret.
CUT_ECHO = {"status": 404, "pad": 150}


def _forms(*keys: str) -> dict[str, str]:
    """Every form in which a key may come back: raw, base64, URL-encoded, the Basic token."""
    forms = {}
    for key in keys:
        forms[f"{key} raw"] = key
        forms[f"{key} base64"] = base64.b64encode(key.encode()).decode().rstrip("=")
        forms[f"{key} urlencoded"] = quote(key, safe="")
        forms[f"{key} urlencoded+"] = quote_plus(key)
    pair = f"{keys[0]}:{keys[1]}"
    forms["basic token"] = base64.b64encode(pair.encode()).decode().rstrip("=")
    return forms


def test_no_output_log_lake_file_or_catalog_holds_a_key_in_any_encoding(tmp_path: Path) -> None:
    synthetic = SyntheticProject(
        api_key=ECHO_API_KEY, secret_key=ECHO_SECRET_KEY, events_per_hour=20
    )
    env = {
        "AMPLITUDE_PROJECT_ID": str(synthetic.project_id),
        "AMPLITUDE_API_KEY": ECHO_API_KEY,
        "AMPLITUDE_SECRET_KEY": ECHO_SECRET_KEY,
    }
    day = f"{LAST:%Y-%m-%d}"
    outputs = []
    with EmulatorServer([synthetic], now=NOW, gzip_level=1) as server:
        env["AMPLITUDE_BASE_URL"] = server.url
        loaded = _cli("-vv", "backfill", "--start", day, "--end", day, cwd=tmp_path, env=env)
        assert loaded.returncode == 0, loaded.stderr
        # The server now answers with every form of the keys in its error body.
        server.faults.set([FaultRule(kind="echo_headers", times=None)])
        echoed = _cli(
            "-vv", "backfill", "--start", day, "--end", day, "--reload", cwd=tmp_path, env=env
        )
        assert echoed.returncode == 1 and "received Authorization: Basic ***" in echoed.stderr
        # A plain 404 that names the keys where the loader cuts the body it quotes (200
        # characters): the cut secret must not come out in part.
        server.faults.set([FaultRule(kind="echo_headers", times=None, params=CUT_ECHO)])
        cut = _cli("backfill", "--start", day, "--end", day, "--reload", cwd=tmp_path, env=env)
        assert cut.returncode == 1 and "route not found" in cut.stderr, cut.stderr
        outputs += [loaded, echoed, cut]
    outputs.append(_cli("status", cwd=tmp_path, env=env))
    outputs.append(_cli("status", "--json", cwd=tmp_path, env=env))
    assert "route not found" in outputs[-1].stdout  # the failure is recorded, masked

    texts = {f"output {i}": o.stdout + o.stderr for i, o in enumerate(outputs)}
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert any(p.suffix == ".duckdb" for p in files) and any(p.suffix == ".parquet" for p in files)
    for path in files:
        texts[str(path)] = path.read_bytes().decode("latin-1")
    for name, form in _forms(ECHO_API_KEY, ECHO_SECRET_KEY).items():
        for where, text in texts.items():
            assert form not in text, f"{name} in {where}"
    for where, text in texts.items():
        assert not leaks(text, ECHO_API_KEY, ECHO_SECRET_KEY), where


def test_a_short_secret_masks_whole_tokens_and_never_the_loader_s_own_advice() -> None:
    Secret("wrong")
    error = AuthError("the server refused wrong keys", status=403, remedy=AUTH_HINT)
    assert error.describe() == f"the server refused *** keys. {AUTH_HINT}."
    assert "the API key or secret key is wrong" in error.describe()
    assert redact("wrongly, wrong-headed, a%3Dwrong%26") == "wrongly, ***-headed, a%3D***%26"
    assert redact('{"Authorization": "Bearer abc.def.ghi"}') == '{"Authorization": "Bearer ***"}'
    assert redact("echoed Basic a2V5OjEyMzQ=, over basic authentication") == (
        "echoed Basic ***, over basic authentication"
    )


def _cli(*args: str, cwd: Path, env: dict[str, str]) -> Finished:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("AMPLITUDE_")}
    every = {**clean, "AMPLITUDE_START": f"{LAST:%Y-%m-%d}", **env}
    return run_loader(list(args), every, cwd / "cli-output", cwd=cwd, timeout=300)


def test_an_object_store_s_signature_is_masked_wherever_a_client_prints_it() -> None:
    # An S3 client's debug log prints its request headers as a dict of bytes, and a presigned
    # URL carries the key id and the signature in its query: the key id is masked in both,
    # though it was never registered (a profile or an instance role gave it).
    header = (
        "headers={'Authorization': b'AWS4-HMAC-SHA256 Credential=AKIAPROFILE/20261130/us-east-1"
        "/s3/aws4_request, SignedHeaders=host, Signature=0f1e2d3c4b5a69788796a5b4c3d2e1f0'}"
    )
    assert redact(header) == "headers={'Authorization': b'AWS4-HMAC-SHA256 ***'}"
    url = (
        "https://b.s3.amazonaws.com/k?X-Amz-Credential=AKIAPROFILE%2F20261130&X-Amz-Signature=0f1e"
    )
    assert redact(url) == "https://b.s3.amazonaws.com/k?X-Amz-Credential=***&X-Amz-Signature=***"
    assert redact("Unable to locate credentials; the signature does not match") == (
        "Unable to locate credentials; the signature does not match"
    )
