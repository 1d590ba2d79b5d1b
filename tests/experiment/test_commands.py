"""`amplitude-loader snapshot experiment`: deployment keys from the environment, never printed."""

from __future__ import annotations

import os
from pathlib import Path

import duckdb

from loader.emulator import EmulatorServer, SyntheticProject
from tests.loader_process import Finished, run_loader


def _run(cwd: Path, *args: str, **env: str) -> Finished:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("AMPLITUDE_")}
    return run_loader(list(args), {**clean, **env}, cwd / ".output", cwd=cwd, timeout=300)


def _env(server: EmulatorServer, synthetic: SyntheticProject, **more: str) -> dict[str, str]:
    return {
        "AMPLITUDE_PROJECT_ID": str(synthetic.project_id),
        "AMPLITUDE_API_KEY": synthetic.api_key,
        "AMPLITUDE_SECRET_KEY": synthetic.secret_key,
        "AMPLITUDE_BASE_URL": server.url,
        "AMPLITUDE_START": "2024-03-01",
        **more,
    }


def test_keys_from_the_environment_and_a_users_file_with_every_log_on(
    tmp_path: Path, server: EmulatorServer, synthetic: SyntheticProject
) -> None:
    pid = synthetic.project_id
    keys = f"server=server-{pid}, client=client-{pid}"
    users = tmp_path / "users.csv"
    users.write_text("user_id,device_id\n# a comment\nuser_7\nuser_8,device-8\n,device-9\n\n")
    result = _run(
        tmp_path,
        "-vv",
        "snapshot",
        "experiment",
        "--experiment-users",
        str(users),
        "--experiment-requests-per-second",
        "50",
        **_env(server, synthetic, AMPLITUDE_EXPERIMENT_DEPLOYMENT_KEYS=keys),
    )
    assert result.returncode == 0, result.stderr
    assert "flags per deployment: server 4, client 2" in result.stdout
    assert "of 3 users in 6 evaluations (not tracked)" in result.stdout
    for key in (f"server-{pid}", f"client-{pid}"):
        assert key not in result.stdout + result.stderr
    with duckdb.connect(str(tmp_path / "warehouse" / "catalog.duckdb"), read_only=True) as con:
        asked = con.execute(
            "SELECT DISTINCT user_id, device_id FROM amplitude.experiment_assignments ORDER BY 1"
        ).fetchall()
    assert set(asked) <= {("user_7", None), ("user_8", "device-8"), (None, "device-9")}
    assert {(u, d) for _, _, u, d in server.experiment.calls} == {
        ("user_7", None),
        ("user_8", "device-8"),
        (None, "device-9"),
    }
    assert server.experiment.tracked == 0


def test_a_projects_file_names_the_variables_that_hold_the_keys(
    tmp_path: Path, server: EmulatorServer, synthetic: SyntheticProject
) -> None:
    pid = synthetic.project_id
    projects = tmp_path / "projects.toml"
    projects.write_text(
        f'[[project]]\nid = {pid}\napi_key_env = "K"\nsecret_key_env = "S"\n'
        'experiment_keys_env = { web = "WEB_DEPLOYMENT_KEY" }\n'
    )
    env = {
        "AMPLITUDE_PROJECTS_FILE": str(projects),
        "AMPLITUDE_BASE_URL": server.url,
        "K": synthetic.api_key,
        "S": synthetic.secret_key,
    }
    missing = _run(tmp_path, "snapshot", "experiment", **env)
    assert missing.returncode == 2 and missing.stderr.count("\n") == 1
    assert "WEB_DEPLOYMENT_KEY" in missing.stderr
    done = _run(tmp_path, "snapshot", "experiment", WEB_DEPLOYMENT_KEY=f"client-{pid}", **env)
    assert done.returncode == 0, done.stderr
    assert "flags per deployment: web 2" in done.stdout


def test_a_bad_key_or_none_is_one_line_that_never_shows_a_key(
    tmp_path: Path, server: EmulatorServer, synthetic: SyntheticProject
) -> None:
    wrong = "server-wrong-deployment-4321"
    refused = _run(
        tmp_path,
        "-vv",
        "snapshot",
        "experiment",
        **_env(server, synthetic, AMPLITUDE_EXPERIMENT_DEPLOYMENT_KEYS=f"server={wrong}"),
    )
    assert refused.returncode == 1
    last = refused.stderr.strip().splitlines()[-1]
    assert "Experiment" in last and "HTTP 401" in last and "deployment key of 'server'" in last
    assert wrong not in refused.stdout + refused.stderr
    plain = _run(
        tmp_path,
        "snapshot",
        "experiment",
        **_env(server, synthetic, AMPLITUDE_EXPERIMENT_DEPLOYMENT_KEYS=f"server={wrong}"),
    )
    assert plain.returncode == 1 and plain.stderr.count("\n") == 1
    unset = _run(tmp_path, "snapshot", "experiment", **_env(server, synthetic))
    assert unset.returncode == 2 and unset.stderr.count("\n") == 1
    assert "AMPLITUDE_EXPERIMENT_DEPLOYMENT_KEYS" in unset.stderr
    # Several deployments, one without a name: which entry, never its text.
    malformed = _run(
        tmp_path,
        "snapshot",
        "experiment",
        **_env(server, synthetic, AMPLITUDE_EXPERIMENT_DEPLOYMENT_KEYS=f"server=a-key,{wrong}"),
    )
    assert malformed.returncode == 2 and malformed.stderr.count("\n") == 1
    assert "entry 2 has no name" in malformed.stderr and wrong not in malformed.stderr
    # `snapshot all` without keys records Experiment as not configured and succeeds.
    server.metadata.polls_before_done = 0
    everything = _run(tmp_path, "snapshot", **_env(server, synthetic))
    assert everything.returncode == 0, everything.stderr
    assert "experiment    not configured" in everything.stdout
    assert server.experiment.evaluations == 0
