"""`deletions` and `forget` on the command line: what they print, and what they never print."""

from __future__ import annotations

import os
from pathlib import Path

import duckdb

from tests.loader_process import Finished, run_loader
from tests.privacy.lakes import PrivacyLake, choose_users, live_files
from tests.privacy.scan import holders, patterns


def _run(lake: PrivacyLake, *args: str, cwd: Path, **extra: str) -> Finished:
    """`amplitude-loader -vv <args>` on the lake, in a child process (`extra`: more variables)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AMPLITUDE_")}
    env.update(
        AMPLITUDE_PROJECT_ID=str(lake.synthetic.project_id),
        AMPLITUDE_API_KEY=lake.synthetic.api_key,
        AMPLITUDE_SECRET_KEY=lake.synthetic.secret_key,
        AMPLITUDE_BASE_URL=lake.server.url,
        AMPLITUDE_LAKE=lake.settings.lake_root,
        AMPLITUDE_CATALOG=lake.settings.catalog_path,
        AMPLITUDE_START="2024-03-01",
        **extra,
    )
    return run_loader(["-vv", *args], env, cwd / ".output", cwd=cwd, timeout=300)


def test_the_commands_erase_and_print_neither_an_id_nor_a_key(
    privacy_lake: PrivacyLake, tmp_path: Path
) -> None:
    lake = privacy_lake
    users = choose_users(lake)
    # forget: 150 ids from a file (two requests to Amplitude: at most 100 ids each), one of
    # them a real user's; the user id of another user from a flag.
    others = [users.rejected + 10**9 + n for n in range(149)]
    ids_file = tmp_path / "ids.txt"
    ids_file.write_text(
        "# requests of 2024-03\n"
        + "".join(f"amplitude_id={a}\n" for a in [users.rejected, *others])
    )
    forgot = _run(
        lake,
        "forget",
        "--ids-file",
        str(ids_file),
        "--user-id",
        "user_12",
        "--requester",
        "dpo@example.com",
        "--submit",
        cwd=tmp_path,
    )
    assert forgot.returncode == 0, forgot.stderr
    assert "153 id(s) erased (2 Amplitude id(s) found for user ids)" in forgot.stdout
    assert "submitted to Amplitude (job of 2024-03-14, 2024-03-14)" in forgot.stdout
    asked, asked_users = lake.server.deletions.deleted(lake.synthetic.project_id)
    assert asked == {users.rejected, *others} and asked_users == {"user_12"}
    # deletions: the jobs `forget` submitted, and a new one asked of Amplitude directly.
    lake.request_deletion([users.member], [])
    synced = _run(lake, "deletions", cwd=tmp_path)
    assert synced.returncode == 0, synced.stderr
    # Amplitude's job holds what `forget` submitted and the new request: 152 ids new to it, whose
    # cutoff (the end of the job's day) is later than the one `forget` gave them.
    assert "1 deletion job(s)" in synced.stdout and "152 new id(s)" in synced.stdout

    erased = patterns([*users.amplitude_ids], sorted(users.user_ids()))
    for name, output in (("forget", forgot), ("deletions", synced)):
        text = (output.stdout + output.stderr).encode()
        assert holders_in_text(text, erased) == set(), name
        for secret in (lake.synthetic.api_key, lake.synthetic.secret_key):
            assert secret.encode() not in text, name
    assert not holders(live_files(lake), erased)
    with duckdb.connect(lake.settings.catalog_path, read_only=True) as con:
        jobs = con.execute(
            "SELECT job, status FROM amplitude.privacy_jobs ORDER BY first_seen_at, job"
        ).fetchall()
    assert [s for _, s in jobs][-1] == "staging" and jobs[0][1].startswith("submitted to Amplitude")


def holders_in_text(text: bytes, wanted: dict) -> set[str]:
    """Which ids a text names."""
    return {name for name, pattern in wanted.items() if pattern.search(text)}
