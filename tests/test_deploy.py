"""deploy/: every artifact's command line, run from a wheel installed in a fresh venv as
the artifact writes it, and every file checked as far as this machine can (no container
engine or cluster runs here: deploy/README.md says what is not tested)."""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import time
import venv
from pathlib import Path
from typing import Any

import pytest
import yaml
from helpers import debian_command

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
UNITS = sorted((DEPLOY / "systemd").glob("*.service")) + sorted((DEPLOY / "systemd").glob("*.timer"))
USER_UNITS = sorted((DEPLOY / "systemd" / "user").iterdir())
SECRETS = {"PBRIDGE_MASTER_PHRASE": "deploy phrase", "PBRIDGE_CHAT_SECRET": "deploy secret"}


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bin folder of a fresh venv with the wheel (and its daemon and xmpp extras) installed."""
    root = tmp_path_factory.mktemp("deploy")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(root / "dist"),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
    )
    (wheel,) = (root / "dist").glob("pointerbridge-*.whl")
    venv.create(root / "venv", with_pip=True)
    done = subprocess.run(
        [str(root / "venv" / "bin" / "python"), "-m", "pip", "install", "-q", f"{wheel}[daemon,xmpp]"],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return root / "venv" / "bin"


def _env(**extra: str) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("PBRIDGE_")}
    return {**base, **extra}


def _home(bin_dir: Path, env: dict[str, str], shared: Path) -> None:
    """A home with an identity, a files carrier and a chat, made by the installed pbridge."""
    shared.mkdir(parents=True, exist_ok=True)
    for args in (
        ["init", "--username", "ops", "--weak-secret-ok"],
        ["carrier", "add", "shared", "--type", "files", "--path", str(shared)],
        ["chat", "create", "ops", "--carrier", "shared", "--weak-secret-ok"],
    ):
        done = subprocess.run(
            [str(bin_dir / "pbridge"), *args], env={**env, **SECRETS}, capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 0, (args, done.stderr)


def _run(argv: list[str], env: dict[str, str], *, seconds: float | None = None) -> subprocess.CompletedProcess[str]:
    """Run a command line; with ``seconds``, SIGTERM it after that long (a daemon)."""
    if seconds is None:
        return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120)
    process = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(seconds)
    assert process.poll() is None, process.communicate()
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=60)
    return subprocess.CompletedProcess(argv, process.returncode, out, err)


def _unit(path: Path) -> dict[str, list[str]]:
    """key -> values of a unit file (every section; repeated keys kept in order)."""
    found: dict[str, list[str]] = {}
    for line in path.read_text().splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            key, _, value = line.partition("=")
            found.setdefault(key, []).append(value)
    return found


@pytest.mark.slow
@pytest.mark.parametrize("unit", [u for u in UNITS + USER_UNITS if u.suffix == ".service"], ids=lambda u: u.name)
def test_each_units_command_line_runs_and_exits_as_documented(installed: Path, unit: Path, tmp_path: Path) -> None:
    keys = _unit(unit)
    home = tmp_path / "home"
    env = _env(HOME=str(tmp_path), **dict(v.split("=", 1) for v in keys.get("Environment", [])))
    if "PBRIDGE_HOME" in env:
        env["PBRIDGE_HOME"] = str(home)  # /var/lib/pointerbridge, as StateDirectory= makes it
    _home(installed, env, tmp_path / "shared")
    (command,) = keys["ExecStart"]
    argv = shlex.split(
        command.replace("/usr/local/bin/pbridge", str(installed / "pbridge")).replace(
            "%h/.local/bin/pbridge", str(installed / "pbridge")
        )
    )
    if "gateway" in argv:
        _gateway_runs_until_the_server(argv, {**env, **SECRETS}, tmp_path)
        return
    daemon = argv[-1] == "daemon"
    done = _run(argv, env, seconds=3 if daemon else None)
    assert done.returncode == 0, (done.stdout, done.stderr)
    assert ("stopped" in done.stderr) if daemon else ("shared: posted 0" in done.stdout)


def _gateway_runs_until_the_server(argv: list[str], env: dict[str, str], tmp_path: Path) -> None:
    """The gateway's unit: its component secret from LoadCredential's folder, the secrets
    as a person types them (here the environment), then no server: 72, in one line."""
    import socket

    credentials = tmp_path / "credentials"
    credentials.mkdir(mode=0o700)
    (credentials / "component.secret").write_text("deploy component secret\n")
    (credentials / "component.secret").chmod(0o600)
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    argv = [a.replace("${CREDENTIALS_DIRECTORY}", str(credentials)).replace(":5347", f":{port}") for a in argv]
    done = _run(argv, env)
    assert done.returncode == 72, (done.stdout, done.stderr)
    assert done.stderr.startswith("pbridge: cannot connect to the XMPP server") and done.stderr.count("\n") == 1


def _systemd_analyze() -> str:
    return debian_command("systemd-analyze", "systemd")


@pytest.mark.parametrize("scope", ["system", "user"])
def test_the_units_pass_systemd_analyze_verify_without_a_warning(installed: Path, tmp_path: Path, scope: str) -> None:
    analyze = _systemd_analyze()
    copies = []
    for unit in UNITS if scope == "system" else USER_UNITS:
        copy = tmp_path / unit.name  # the same unit, its pbridge the one installed for this test
        copy.write_text(
            unit.read_text()
            .replace("/usr/local/bin/pbridge", str(installed / "pbridge"))
            .replace("%h/.local/bin/pbridge", str(installed / "pbridge"))
        )
        copies.append(str(copy))
    env = {**os.environ, "XDG_RUNTIME_DIR": str(tmp_path)}
    done = subprocess.run(
        [analyze, *(["--user"] if scope == "user" else []), "verify", "--man=no", *copies],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 0 and done.stdout + done.stderr == "", done.stdout + done.stderr


def test_the_system_units_are_hardened() -> None:
    for name in ("pointerbridge-poll.service", "pointerbridge-daemon.service"):
        unit = DEPLOY / "systemd" / name
        keys = _unit(unit)
        for key, value in (
            ("User", "pointerbridge"),
            ("NoNewPrivileges", "yes"),
            ("ProtectSystem", "strict"),
            ("ProtectHome", "yes"),
            ("PrivateTmp", "yes"),
            ("UMask", "0077"),
            ("RestrictAddressFamilies", "AF_UNIX AF_INET AF_INET6"),
            ("CapabilityBoundingSet", ""),
        ):
            assert keys.get(key) == [value], (unit.name, key)
        assert keys["EnvironmentFile"] == ["-/etc/pointerbridge/credentials.env"]
    gateway = _unit(DEPLOY / "systemd" / "pointerbridge-gateway.service")
    for key, value in (("User", "pointerbridge"), ("NoNewPrivileges", "yes"), ("ProtectHome", "yes")):
        assert gateway.get(key) == [value], key
    # Secrets are typed on a console of the unit's own, never read from a file or the environment.
    assert gateway["StandardInput"] == ["tty"] and gateway["TTYPath"] == ["/dev/tty8"]
    assert "EnvironmentFile" not in gateway and "--secret-file ${CREDENTIALS_DIRECTORY}/" in gateway["ExecStart"][0]
    timer = _unit(DEPLOY / "systemd" / "pointerbridge-poll.timer")
    assert timer["OnCalendar"] == ["minutely"] and timer["RandomizedDelaySec"] == ["20"]


@pytest.mark.slow
def test_the_crontab_line_runs_as_written(installed: Path, tmp_path: Path) -> None:
    (line,) = [
        x for x in (DEPLOY / "cron" / "pointerbridge.crontab").read_text().splitlines() if x and not x.startswith("#")
    ]
    fields = line.split(maxsplit=5)
    assert fields[:5] == ["*"] * 5
    (tmp_path / ".local" / "bin").mkdir(parents=True)
    (tmp_path / ".local" / "state").mkdir()
    (tmp_path / ".local" / "bin" / "pbridge").symlink_to(installed / "pbridge")  # where pip --user puts it
    env = _env(HOME=str(tmp_path), PATH="/usr/bin:/bin")  # cron's environment: HOME, a short PATH
    _home(installed, env, tmp_path / "shared")
    other = tmp_path / "a home $named in the credentials"  # a value with a space and a $: read as data
    _home(installed, {**env, "PBRIDGE_HOME": str(other)}, tmp_path / "shared")
    credentials = tmp_path / ".config" / "pointerbridge" / "credentials.env"
    credentials.write_text(f"# tokens\n\nPBRIDGE_HOME={other}\nnot a line; rm -rf /\n")
    credentials.chmod(0o600)
    done = subprocess.run(["/bin/sh", "-c", fields[5]], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout == done.stderr == ""
    assert "shared: posted 0" in (tmp_path / ".local" / "state" / "pbridge.log").read_text()
    for home, polled in ((other, True), (None, False)):  # the home the file named was polled, not the default
        status = _run(
            [str(installed / "pbridge"), "status", "--json"], {**env, **({"PBRIDGE_HOME": str(home)} if home else {})}
        )
        assert (json.loads(status.stdout)["carriers"]["shared"]["last_ok"] is not None) is polled


def _dockerfile() -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    text = (DEPLOY / "docker" / "Dockerfile").read_text().replace("\\\n", " ")
    for line in text.splitlines():
        if line.strip() and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            found.setdefault(word, []).append(rest.strip())
    return found


@pytest.mark.slow
def test_the_image_runs_as_a_user_and_its_commands_exist(installed: Path, tmp_path: Path) -> None:
    docker = _dockerfile()
    assert len(docker["FROM"]) == 2 and all("slim" in f for f in docker["FROM"])  # two stages, slim
    user = docker["USER"][-1].split(":")[0]
    assert user not in ("0", "root") and f"--uid {user}" in docker["RUN"][1]
    assert docker["VOLUME"] == ['["/data"]'] and "ENV PBRIDGE_HOME=/data" in [f"ENV {e}" for e in docker["ENV"]]
    (check,) = docker["HEALTHCHECK"]
    health = json.loads(check.split(" CMD ", 1)[1])
    command = json.loads(docker["ENTRYPOINT"][0]) + json.loads(docker["CMD"][0])
    assert health == ["pbridge", "doctor"] and command == ["pbridge", "daemon"]
    env = _env(PBRIDGE_HOME=str(tmp_path / "data"), PATH=f"{installed}:/usr/bin:/bin")
    _home(installed, env, tmp_path / "shared")
    assert _run(health, env).returncode == 0  # healthy
    daemon = _run(command, env, seconds=3)
    assert daemon.returncode == 0 and "stopped" in daemon.stderr


def test_compose_runs_the_daemon_locked_down() -> None:
    compose = yaml.safe_load((DEPLOY / "docker" / "compose.yaml").read_text())
    (service,) = compose["services"].values()
    assert service["command"] == ["daemon"] and service["env_file"] == ["credentials.env"]
    assert service["volumes"] == ["pbridge-home:/data"] and "pbridge-home" in compose["volumes"]
    assert service["read_only"] is True and service["cap_drop"] == ["ALL"]
    assert service["build"]["dockerfile"] == "deploy/docker/Dockerfile"
    assert (DEPLOY / "docker" / service["build"]["context"] / service["build"]["dockerfile"]).exists()


def _manifests() -> dict[str, Any]:
    return {doc["kind"]: doc for doc in yaml.safe_load_all((DEPLOY / "kubernetes" / "pointerbridge.yaml").read_text())}


@pytest.mark.slow
def test_the_cronjob_polls_once_a_minute_never_twice_at_once(installed: Path, tmp_path: Path) -> None:
    docs = _manifests()
    assert set(docs) == {"Secret", "PersistentVolumeClaim", "CronJob"}
    cron = docs["CronJob"]["spec"]
    assert cron["schedule"] == "* * * * *" and cron["concurrencyPolicy"] == "Forbid"
    pod = cron["jobTemplate"]["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] != 0
    (container,) = pod["containers"]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["envFrom"] == [{"secretRef": {"name": docs["Secret"]["metadata"]["name"]}}]
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    claims = {v["name"]: v.get("persistentVolumeClaim", {}).get("claimName") for v in pod["volumes"]}
    home = next(e["value"] for e in container["env"] if e["name"] == "PBRIDGE_HOME")
    volume = next(n for n, p in mounts.items() if home.startswith(p + "/"))
    assert claims[volume] == docs["PersistentVolumeClaim"]["metadata"]["name"]
    assert pod["securityContext"]["fsGroupChangePolicy"] == "OnRootMismatch"  # the home's 0600 files stay so
    assert all(v == "replace-me" for v in docs["Secret"]["stringData"].values())  # no real credential committed
    env = _env(PBRIDGE_HOME=str(tmp_path / "data"), PATH=f"{installed}:/usr/bin:/bin")
    _home(installed, env, tmp_path / "shared")
    done = _run(container["command"], env)
    assert done.returncode == 0 and "shared: posted 0" in done.stdout
