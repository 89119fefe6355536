"""The deployment files say what runs: compose.yaml, the Dockerfile and deploy/kubernetes/.

No container engine runs here, so the compose demo is replayed as the processes its services
start: the emulator with the ``emulator`` service's command, then ``accs-sync sync`` with the
``sync`` service's environment, secret file and settings file, on loopback (service hostnames
become 127.0.0.1, the database the test PostgreSQL's scratch database). The Kubernetes
manifests are checked against the official schemas (``kubernetes-validate``) and for the
properties the README promises.
"""

from __future__ import annotations

import http.server
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import yaml
from prometheus_client.parser import text_string_to_metric_families

from sync.db.engine import make_engine
from sync.db.schema import products
from sync.emulator import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    DEFAULT_ORG_ID,
    DEFAULT_TENANT,
    Catalog,
)
from sync.errors import ConfigError
from sync.settings import Settings, load_settings
from tests.integration.processes import CLI, clean_env, terminate

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "compose.yaml"
KUBERNETES = ROOT / "deploy" / "kubernetes"
#: The oldest Kubernetes whose schema the manifests are checked against (podFailurePolicy's
#: onExitCodes-only rules validate from 1.29 on), and the newest the validator knows.
KUBERNETES_VERSIONS = ("1.29", None)

SETTING_NAMES = frozenset(name.upper() for name in Settings.model_fields)

#: What a container's server binds to be reachable from outside it (a string here, never bound).
ANY_ADDRESS = "0.0.0.0"  # noqa: S104

_INTERPOLATION = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::-(?P<default>[^}]*))?\}")


# -- reading the files as compose and kubectl do -------------------------------------------------


def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return data


def interpolate(value: str, variables: dict[str, str] | None = None) -> str:
    """Compose's ``${NAME}`` / ``${NAME:-default}``, with ``variables`` as the shell and .env
    (none: the demo, run in a fresh checkout)."""
    variables = variables or {}

    def replace(match: re.Match[str]) -> str:
        return variables.get(match["name"]) or match["default"] or ""

    out = _INTERPOLATION.sub(replace, value)
    assert "$" not in out, f"unsupported interpolation in {value!r}"
    return out


def read_env_file(path: Path) -> dict[str, str]:
    """KEY=VALUE lines, as compose's env_file reads them (comments and blank lines skipped)."""
    env: dict[str, str] = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, value = line.partition("=")
        assert sep, f"{path}: {line!r} is not KEY=VALUE"
        env[name.strip()] = value.strip()
    return env


def service_environment(service: dict[str, Any]) -> tuple[dict[str, str], dict[str, str]]:
    """(env_file settings, ``environment:`` settings) of a compose service, demo defaults."""
    env_file = service.get("env_file")
    from_file = read_env_file(ROOT / interpolate(env_file)) if env_file else {}
    return from_file, {k: str(v) for k, v in (service.get("environment") or {}).items()}


def manifests() -> list[dict[str, Any]]:
    docs: list[dict[str, Any]] = []
    for path in sorted(KUBERNETES.glob("*.yaml")):
        docs.extend(doc for doc in yaml.safe_load_all(path.read_text()) if doc)
    return docs


def manifest(kind: str, name: str) -> dict[str, Any]:
    [found] = [m for m in manifests() if m["kind"] == kind and m["metadata"]["name"] == name]
    return found


def pod_spec(workload: dict[str, Any]) -> dict[str, Any]:
    spec = workload["spec"]
    if workload["kind"] == "CronJob":
        spec = spec["jobTemplate"]["spec"]
    pod: dict[str, Any] = spec["template"]["spec"]
    return pod


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def dockerfile_healthcheck() -> str:
    """The shell command of the Dockerfile's HEALTHCHECK (continuation lines joined)."""
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    [line] = [ln for ln in text.splitlines() if ln.startswith("HEALTHCHECK ")]
    return line.split(" CMD ", 1)[1].strip()


def healthcheck_env(**extra: str) -> dict[str, str]:
    """The environment the healthcheck runs in: this venv's python and accs-sync on PATH."""
    env = clean_env(**extra)
    env["PATH"] = f"{Path(sys.executable).parent}:{env.get('PATH', '')}"
    return env


def _get(port: int, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def _scrape_until_a_run_succeeded(
    port: int, daemon: subprocess.Popen[bytes], log: Path, timeout: float = 150
) -> dict[str, Any]:
    """The daemon's /metrics, parsed (so it is valid Prometheus text), once a run succeeded."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert daemon.poll() is None, log.read_text()
        try:
            status, text = _get(port, "/metrics")
        except OSError:
            time.sleep(0.3)
            continue
        assert status == 200
        families = {f.name: f for f in text_string_to_metric_families(text)}
        runs = families["accs_sync_runs"].samples
        if any(s.labels.get("outcome") == "success" and s.value >= 1 for s in runs):
            return families
        time.sleep(0.3)
    raise AssertionError(f"no successful run within {timeout}s:\n{log.read_text()}")


# -- compose.yaml --------------------------------------------------------------------------------


@pytest.fixture
def compose_emulator(tmp_path: Path) -> Iterator[int]:
    """The ``emulator`` service's command as a process, on a free loopback port."""
    service = compose()["services"]["emulator"]
    port = free_port()
    command = [str(arg) for arg in service["command"]]
    assert command[0] == "emulator"
    assert command[command.index("--host") + 1] == ANY_ADDRESS
    assert command[command.index("--port") + 1] == "8080"
    command[command.index("--host") + 1] = "127.0.0.1"  # tests stay on loopback
    command[command.index("--port") + 1] = str(port)
    command = [arg.replace("emulator:8080", f"127.0.0.1:{port}") for arg in command]
    proc = subprocess.Popen(
        [*CLI, *command],
        env=clean_env(),
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert proc.stdout is not None
        lines: list[str] = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not (lines and lines[-1].startswith("Press")):
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line.strip())
        assert lines and lines[-1].startswith("Press"), lines
        assert f"export API_ENDPOINT=http://127.0.0.1:{port}/{DEFAULT_TENANT}" in lines
        yield port
    finally:
        terminate(proc)


@pytest.mark.timeout(240)
@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_the_compose_demo_mirrors_the_demo_catalog_into_postgresql(
    compose_emulator: int, db_url: str, tmp_path: Path
) -> None:
    port = compose_emulator
    services = compose()["services"]

    # The emulator service's own healthcheck passes against it.
    health = [str(a) for a in services["emulator"]["healthcheck"]["test"]]
    assert health[0] == "CMD"
    health = [a.replace("127.0.0.1:8080", f"127.0.0.1:{port}") for a in health[1:]]
    assert subprocess.run(health, env=healthcheck_env(), timeout=30, check=False).returncode == 0

    # The daemon's environment: its env file, then `environment:`, then its secret as a file.
    from_file, environment = service_environment(services["sync"])
    env = {**from_file, **environment}
    assert (
        env["DATABASE_URL"].startswith("postgresql://") and "@postgres:5432/" in env["DATABASE_URL"]
    )
    env["DATABASE_URL"] = db_url
    env = {k: v.replace("emulator:8080", f"127.0.0.1:{port}") for k, v in env.items()}
    env["SYNC_HTTP_HOST"], env["SYNC_HTTP_PORT"] = "127.0.0.1", str(free_port())
    secrets_dir = tmp_path / "run-secrets"
    secrets_dir.mkdir()
    secret_names = services["sync"]["secrets"]
    assert secret_names == ["ims_client_secret"]
    secret_file = ROOT / interpolate(compose()["secrets"]["ims_client_secret"]["file"])
    shutil.copy(secret_file, secrets_dir / "ims_client_secret")
    env["IMS_SECRETS_DIR"] = str(secrets_dir)  # /run/secrets in the container

    # The service's own command: the daemon, scraped as Prometheus and probed as Kubernetes would.
    assert services["sync"]["command"] == ["daemon"]
    http = int(env["SYNC_HTTP_PORT"])
    with open(tmp_path / "daemon.log", "w") as log:
        daemon = subprocess.Popen(
            [*CLI, "daemon"], env=clean_env(**env), cwd=tmp_path, stdout=log, stderr=log
        )
        try:
            families = _scrape_until_a_run_succeeded(http, daemon, tmp_path / "daemon.log")
            assert _get(http, "/livez")[0] == 200
            assert _get(http, "/readyz")[0] == 200
        finally:
            terminate(daemon)
    written = {
        s.labels["operation"]: s.value
        for s in families["accs_sync_products_written"].samples
        if s.name.endswith("_total")
    }
    assert written["insert"] == 2046

    products_flag = services["emulator"]["command"].index("--products") + 1
    seed_flag = services["emulator"]["command"].index("--seed") + 1
    expected = Catalog.generate(
        int(services["emulator"]["command"][products_flag]),
        seed=int(services["emulator"]["command"][seed_flag]),
    )
    engine = make_engine(db_url)
    try:
        with engine.connect() as conn:
            skus = set(
                conn.execute(sa.select(products.c.sku).where(products.c.deleted_at.is_(None)))
                .scalars()
                .all()
            )
    finally:
        engine.dispose()
    assert skus == {item["sku"] for item in expected.items()}
    assert len(skus) == 2046

    # The image's healthcheck without SYNC_HTTP_PORT falls back to `accs-sync status`.
    check_env = healthcheck_env(DATABASE_URL=db_url)
    check = subprocess.run(
        ["/bin/sh", "-c", dockerfile_healthcheck()],
        env=check_env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert check.returncode == 0, check.stderr
    assert "2046" in check.stdout


def test_the_demo_settings_are_the_emulators_and_need_the_insecure_opt_in(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """With the real service hostnames (http://emulator:8080), not rewritten to loopback."""
    for name in list(os.environ):
        if name.startswith(("IMS_", "SYNC_", "API_", "DATABASE_", "ACCS_SYNC")):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)  # no stray .env
    from_file, environment = service_environment(compose()["services"]["sync"])
    secret_file = ROOT / interpolate(compose()["secrets"]["ims_client_secret"]["file"])
    assert secret_file.read_text().strip() == DEFAULT_CLIENT_SECRET
    assert from_file["IMS_CLIENT_ID"] == DEFAULT_CLIENT_ID
    assert from_file["IMS_ORG_ID"] == DEFAULT_ORG_ID
    assert from_file["API_ENDPOINT"] == f"http://emulator:8080/{DEFAULT_TENANT}"
    settings = {k: v for k, v in {**from_file, **environment}.items() if k in SETTING_NAMES}
    overrides = {k.lower(): v for k, v in settings.items() if k.lower() in Settings.model_fields}
    overrides["ims_client_secret_file"] = str(secret_file)
    loaded = load_settings(**overrides)
    assert loaded.insecure_urls() == [
        "API_ENDPOINT",
        "IMS_TOKEN_URL",
        "IMS_AUTHORIZE_URL",
        "IMS_REVOKE_URL",
    ]
    with pytest.raises(ConfigError, match="SYNC_ALLOW_INSECURE_HTTP"):
        load_settings(**{**overrides, "sync_allow_insecure_http": "false"})


def test_compose_waits_for_its_dependencies_and_keeps_the_demo_behind_a_profile() -> None:
    data = compose()
    services = data["services"]
    assert services["emulator"]["profiles"] == ["demo"]
    assert "profiles" not in services["sync"] and "profiles" not in services["postgres"]
    depends = services["sync"]["depends_on"]
    assert depends["postgres"] == {"condition": "service_healthy"}
    # Waits for the emulator with --profile demo; without it there is none to wait for.
    assert depends["emulator"] == {"condition": "service_healthy", "required": False}
    for name in ("postgres", "emulator"):
        assert services[name]["healthcheck"]["test"], name
    # The daemon's database is the compose PostgreSQL, with its user, password and database.
    pg = services["postgres"]["environment"]
    url = sa.engine.make_url(service_environment(services["sync"])[1]["DATABASE_URL"])
    assert (url.host, url.port) == ("postgres", 5432)
    assert (url.username, url.password, url.database) == (
        pg["POSTGRES_USER"],
        pg["POSTGRES_PASSWORD"],
        pg["POSTGRES_DB"],
    )
    # Metrics on, reachable from the host at localhost:9464 only.
    environment = services["sync"]["environment"]
    assert (environment["SYNC_HTTP_PORT"], environment["SYNC_HTTP_HOST"]) == ("9464", ANY_ADDRESS)
    assert services["sync"]["ports"] == ["127.0.0.1:9464:9464"]
    # The token cache (under the image's home, /data) outlives the container.
    assert "accs-data:/data" in services["sync"]["volumes"]


def test_without_the_demo_the_daemon_reads_your_env_file_and_secret() -> None:
    """What `.env` (from .env.example) switches: the whole settings file and the secret."""
    data = compose()
    example = read_env_file(ROOT / ".env.example")
    assert example["ACCS_SYNC_ENV_FILE"] == ".env"
    assert interpolate(data["services"]["sync"]["env_file"], example) == ".env"
    secret = interpolate(data["secrets"]["ims_client_secret"]["file"], example)
    assert secret == example["ACCS_SYNC_SECRET_FILE"]
    assert secret.startswith("./secrets/")
    assert "secrets/" in (ROOT / ".gitignore").read_text().split()


def test_a_filled_in_env_file_with_the_mounted_secret_is_a_valid_configuration(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """.env.example filled in as the README says, IMS_CLIENT_SECRET left empty, the secret a
    file in the secrets directory: what the daemon container sees without the demo."""
    for name in list(os.environ):
        if name.startswith(("IMS_", "SYNC_", "API_", "DATABASE_", "ACCS_SYNC")):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    env = read_env_file(ROOT / ".env.example")
    assert env["IMS_CLIENT_SECRET"] == ""
    env.update(IMS_CLIENT_ID="client-abc", IMS_ORG_ID="ABC@AdobeOrg")
    env["API_ENDPOINT"] = env["API_ENDPOINT"].replace("<tenant-id>", "TENANT123")
    env.update(compose()["services"]["sync"]["environment"])
    (tmp_path / "ims_client_secret").write_text("p8e-from-a-file\n")
    env["IMS_SECRETS_DIR"] = str(tmp_path)
    for name, value in env.items():
        monkeypatch.setenv(name, str(value))
    settings = load_settings()
    assert settings.api_endpoint == "https://na1.api.commerce.adobe.com/TENANT123"
    assert settings.sync_allow_insecure_http is False and settings.insecure_urls() == []
    [secret] = settings.client_secrets()
    assert secret.path == tmp_path / "ims_client_secret"


# -- the image -------------------------------------------------------------------------------


class _Probe(http.server.BaseHTTPRequestHandler):
    status = 200

    def do_GET(self) -> None:
        self.send_response(self.status if self.path == "/livez" else 404)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        return


@pytest.mark.parametrize(("status", "healthy"), [(200, True), (503, False)])
def test_the_image_healthcheck_asks_livez_when_the_http_port_is_set(
    status: int, healthy: bool, tmp_path: Path
) -> None:
    handler = type("Probe", (_Probe,), {"status": status})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        env = healthcheck_env(SYNC_HTTP_PORT=str(server.server_address[1]))
        result = subprocess.run(
            ["/bin/sh", "-c", dockerfile_healthcheck()],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            timeout=30,
            check=False,
        )
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
    assert (result.returncode == 0) is healthy


def test_the_image_runs_as_the_user_kubernetes_expects_and_exposes_the_metrics_port() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "--gid 10001 accs" in dockerfile and "--uid 10001 --gid accs" in dockerfile
    assert "\nUSER accs\n" in dockerfile
    assert "\nEXPOSE 9464\n" in dockerfile
    ignored = (ROOT / ".dockerignore").read_text().split()
    for pattern in (".env", "secrets/", ".git", ".venv/", "*.db", ".pytest_cache/"):
        assert pattern in ignored, pattern


# -- Kubernetes ------------------------------------------------------------------------------


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_the_manifests_validate_against_the_kubernetes_schemas(version: str | None) -> None:
    kubernetes_validate = pytest.importorskip("kubernetes_validate")
    version = version or kubernetes_validate.latest_version()
    docs = manifests()
    assert {d["kind"] for d in docs} == {
        "ConfigMap",
        "PersistentVolumeClaim",
        "CronJob",
        "Deployment",
        # The monthly secret rotation's account, allowed to update the one Secret.
        "ServiceAccount",
        "Role",
        "RoleBinding",
    }
    for doc in docs:
        kubernetes_validate.validate(doc, version, strict=True)


@pytest.mark.parametrize(
    ("name", "command", "schedule"),
    [("accs-sync", "sync", "*/15 * * * *"), ("accs-sync-reconcile", "reconcile", "7 3 * * *")],
)
def test_the_cronjobs_never_overlap_and_keep_secrets_and_tokens_in_volumes(
    name: str, command: str, schedule: str
) -> None:
    cronjob = manifest("CronJob", name)
    spec = cronjob["spec"]
    assert spec["schedule"] == schedule
    assert spec["concurrencyPolicy"] == "Forbid"
    assert spec["startingDeadlineSeconds"] > 0
    assert spec["jobTemplate"]["spec"]["backoffLimit"] >= 1
    pod = pod_spec(cronjob)
    assert pod["restartPolicy"] == "Never"
    [container] = pod["containers"]
    assert container["args"] == [command]
    check_pod_security_and_volumes(pod)


def test_a_monthly_cronjob_rotates_the_client_secret_into_its_kubernetes_secret() -> None:
    cronjob = manifest("CronJob", "accs-sync-rotate-secret")
    assert cronjob["spec"]["schedule"] == "17 4 1 * *"
    assert cronjob["spec"]["concurrencyPolicy"] == "Forbid"
    pod = pod_spec(cronjob)
    [rotate] = pod["initContainers"]
    assert "accs-sync secret rotate --print --delete-idle" in " ".join(rotate["args"])
    env = {e["name"]: e for e in rotate["env"]}
    assert "IMS_CREDENTIAL_ID" in env and "secretKeyRef" in env["DATABASE_URL"]["valueFrom"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    mounts = {m["mountPath"]: m["name"] for m in rotate["volumeMounts"]}
    assert volumes[mounts["/handover"]]["emptyDir"]["medium"] == "Memory"
    assert rotate["securityContext"]["readOnlyRootFilesystem"] is True
    # Only the publishing container holds the Kubernetes API token, and it may only touch
    # the one Secret the other pods mount.
    assert not any(m["name"] == "kube-api-access" for m in rotate["volumeMounts"])
    [publish] = pod["containers"]
    assert "accs-sync-ims" in " ".join(publish["args"])
    role = manifest("Role", pod["serviceAccountName"])
    assert role["rules"] == [
        {
            "apiGroups": [""],
            "resources": ["secrets"],
            "resourceNames": ["accs-sync-ims"],
            "verbs": ["get", "patch", "update"],
        }
    ]
    assert (
        manifest("ServiceAccount", pod["serviceAccountName"])["automountServiceAccountToken"]
        is False
    )
    ims = volumes[mounts["/run/secrets"]]["secret"]["secretName"]
    assert ims == volumes["ims-secret"]["secret"]["secretName"] == "accs-sync-ims"


def test_the_daemon_deployment_probes_livez_and_readyz() -> None:
    deployment = manifest("Deployment", "accs-sync-daemon")
    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["strategy"]["type"] == "Recreate"
    pod = pod_spec(deployment)
    [container] = pod["containers"]
    assert container["args"] == ["daemon"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert (env["SYNC_HTTP_PORT"], env["SYNC_HTTP_HOST"]) == ("9464", ANY_ADDRESS)
    assert container["ports"] == [{"name": "http-metrics", "containerPort": 9464}]
    assert container["livenessProbe"]["httpGet"] == {"path": "/livez", "port": "http-metrics"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http-metrics"}
    check_pod_security_and_volumes(pod)


def check_pod_security_and_volumes(pod: dict[str, Any]) -> None:
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 10001
    [container] = pod["containers"]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["resources"]["requests"] and container["resources"]["limits"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    # The client secret is a file from a Secret, never an environment variable.
    assert "secret" in volumes[mounts["/run/secrets"]]
    env_names = {e["name"] for e in container.get("env", [])}
    assert not env_names & {"IMS_CLIENT_SECRET", "IMS_CLIENT_SECRET_NEXT"}
    [db] = [e for e in container["env"] if e["name"] == "DATABASE_URL"]
    assert "secretKeyRef" in db["valueFrom"]
    # The token cache lives on the ReadWriteOnce claim (flock needs a local-disk volume).
    config = manifest("ConfigMap", "accs-sync")["data"]
    cache_dir = str(Path(config["SYNC_TOKEN_CACHE"]).parent)
    claim = volumes[mounts[cache_dir]]["persistentVolumeClaim"]["claimName"]
    assert manifest("PersistentVolumeClaim", claim)["spec"]["accessModes"] == ["ReadWriteOnce"]
    # Writable only where it must write: the cache, /tmp.
    assert "emptyDir" in volumes[mounts["/tmp"]]
    assert {c["configMapRef"]["name"] for c in container["envFrom"]} == {"accs-sync"}


# -- names -----------------------------------------------------------------------------------


def used_setting_names() -> dict[str, set[str]]:
    """Every environment variable name the deployment files give accs-sync, by file."""
    used: dict[str, set[str]] = {}
    services = compose()["services"]
    for name in ("sync",):
        from_file, environment = service_environment(services[name])
        used["config/demo/accs-sync.env"] = set(from_file)
        used[f"compose.yaml services.{name}.environment"] = set(environment)
    for doc in manifests():
        where = f"{doc['kind']} {doc['metadata']['name']}"
        if doc["kind"] == "ConfigMap":
            used[where] = set(doc["data"]) | {
                # Commented-out optional settings count too: a user will uncomment them.
                m
                for m in re.findall(
                    r"#\s*([A-Z][A-Z0-9_]+):", (KUBERNETES / "cronjob.yaml").read_text()
                )
            }
        elif doc["kind"] in ("CronJob", "Deployment"):
            [container] = pod_spec(doc)["containers"]
            used[where] = {e["name"] for e in container.get("env", [])}
    return used


def test_every_environment_variable_in_the_deployment_files_is_a_real_setting() -> None:
    used = used_setting_names()
    assert used["ConfigMap accs-sync"] >= {"SYNC_TOKEN_CACHE", "SYNC_METRICS_FILE"}
    unknown = {
        where: names - SETTING_NAMES for where, names in used.items() if names - SETTING_NAMES
    }
    assert unknown == {}
