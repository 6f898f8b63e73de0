"""deploy/k8s rendered with kustomize semantics, validated offline, and each guarantee asserted."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml
from croniter import croniter
from dockerfile_parse import DockerfileParser

from fawkes_analytics import serve

from .kustomize import containers, pod_specs, render

REPO = Path(__file__).resolve().parents[2]
K8S = REPO / "deploy" / "k8s"
K8S_VERSION = "1.33.0"  # the platform's cluster version; kubernetes-validate ships its schemas offline
SECRET_NAME = "fawkes-analytics-secrets"
SECRETISH = re.compile(r"TOKEN|PASSWORD|SECRET|API_KEY|PRIVATE", re.I)

OBJECTS = render(K8S)
BY_KIND: dict[str, list[dict[str, Any]]] = {}
for _obj in OBJECTS:
    BY_KIND.setdefault(_obj["kind"], []).append(_obj)


def one(kind: str) -> dict[str, Any]:
    assert len(BY_KIND.get(kind, [])) == 1, f"expected exactly one {kind}"
    return BY_KIND[kind][0]


VOILA = one("Deployment")
CRON = one("CronJob")
WORKLOADS = [VOILA, CRON]


def _voila_container() -> dict[str, Any]:
    (container,) = VOILA["spec"]["template"]["spec"]["containers"]
    return container


def _quantity(value: str) -> float:
    """CPU cores or bytes from a Kubernetes quantity ('200m', '1', '768Mi', '2Gi')."""
    units = {"m": 1e-3, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30}
    for suffix, factor in units.items():
        if value.endswith(suffix):
            return float(value[: -len(suffix)]) * factor
    return float(value)


# --- rendering and schema validation -------------------------------------------------------


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl (with built-in kustomize) is not installed here")
def test_python_renderer_matches_kubectl_kustomize() -> None:
    out = subprocess.run(["kubectl", "kustomize", str(K8S)], capture_output=True, text=True, check=True).stdout
    theirs = {(o["kind"], o["metadata"]["name"]): o for o in yaml.safe_load_all(out) if o}
    mine = {(o["kind"], o["metadata"]["name"]): o for o in OBJECTS}
    assert mine == theirs


BUILTIN = [o for o in OBJECTS if o["kind"] != "ServiceMonitor"]


@pytest.mark.parametrize("obj", BUILTIN, ids=[f"{o['kind']}/{o['metadata']['name']}" for o in BUILTIN])
def test_builtin_objects_validate_strictly_against_pinned_kubernetes(obj: dict[str, Any]) -> None:
    assert kubernetes_validate.validate(obj, K8S_VERSION, strict=True) == "1.33"


def test_strict_validation_catches_a_misspelt_field() -> None:
    broken = yaml.safe_load(yaml.safe_dump(VOILA))
    broken["spec"]["template"]["spec"]["containers"][0]["securityContext"]["readOnlyRootFileSystem"] = True
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, K8S_VERSION, strict=True)


# kubernetes-validate has no schemas for CRDs. These cover the fields we use, from the
# prometheus-operator (monitoring.coreos.com/v1) and Argo CD (argoproj.io/v1alpha1) CRDs,
# with additionalProperties false so a misspelt field fails.
_DURATION = {"type": "string", "pattern": r"^(0|(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?)$"}
_LABELS = {"type": "object", "additionalProperties": {"type": "string"}}
_META = {
    "type": "object",
    "required": ["name"],
    "properties": {
        "name": {"type": "string"},
        "namespace": {"type": "string"},
        "labels": _LABELS,
        "annotations": _LABELS,
        "finalizers": {"type": "array", "items": {"type": "string"}},
    },
    "additionalProperties": False,
}
SERVICE_MONITOR_SCHEMA = {
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "properties": {
        "apiVersion": {"const": "monitoring.coreos.com/v1"},
        "kind": {"const": "ServiceMonitor"},
        "metadata": _META,
        "spec": {
            "type": "object",
            "required": ["selector", "endpoints"],
            "additionalProperties": False,
            "properties": {
                "selector": {"type": "object", "properties": {"matchLabels": _LABELS}, "additionalProperties": False},
                "namespaceSelector": {"type": "object"},
                "endpoints": {
                    "type": "array",
                    "minItems": 1,
                    "items": {
                        "type": "object",
                        "additionalProperties": False,
                        "properties": {
                            "port": {"type": "string"},
                            "path": {"type": "string"},
                            "interval": _DURATION,
                            "scrapeTimeout": _DURATION,
                            "scheme": {"enum": ["http", "https"]},
                            "honorLabels": {"type": "boolean"},
                            "bearerTokenSecret": {
                                "type": "object",
                                "required": ["name", "key"],
                                "additionalProperties": False,
                                "properties": {
                                    "name": {"type": "string"},
                                    "key": {"type": "string"},
                                    "optional": {"type": "boolean"},
                                },
                            },
                            "relabelings": {
                                "type": "array",
                                "items": {
                                    "type": "object",
                                    "additionalProperties": False,
                                    "properties": {
                                        "sourceLabels": {"type": "array", "items": {"type": "string"}},
                                        "separator": {"type": "string"},
                                        "targetLabel": {"type": "string"},
                                        "regex": {"type": "string"},
                                        "replacement": {"type": "string"},
                                        "action": {"enum": ["replace", "keep", "drop", "labeldrop", "labelkeep"]},
                                    },
                                },
                            },
                        },
                    },
                },
            },
        },
    },
    "additionalProperties": False,
}
APPLICATION_SCHEMA = {
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "additionalProperties": False,
    "properties": {
        "apiVersion": {"const": "argoproj.io/v1alpha1"},
        "kind": {"const": "Application"},
        "metadata": _META,
        "spec": {
            "type": "object",
            "required": ["project", "source", "destination"],
            "additionalProperties": False,
            "properties": {
                "project": {"type": "string"},
                "source": {
                    "type": "object",
                    "required": ["repoURL", "path"],
                    "additionalProperties": False,
                    "properties": {
                        "repoURL": {"type": "string"},
                        "targetRevision": {"type": "string"},
                        "path": {"type": "string"},
                    },
                },
                "destination": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {
                        "server": {"type": "string"},
                        "name": {"type": "string"},
                        "namespace": {"type": "string"},
                    },
                },
                "syncPolicy": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {
                        "automated": {
                            "type": "object",
                            "additionalProperties": False,
                            "properties": {
                                "prune": {"type": "boolean"},
                                "selfHeal": {"type": "boolean"},
                                "allowEmpty": {"type": "boolean"},
                            },
                        },
                        "syncOptions": {"type": "array", "items": {"type": "string", "pattern": r"^[A-Za-z]+=[a-z]+$"}},
                        "retry": {
                            "type": "object",
                            "additionalProperties": False,
                            "properties": {
                                "limit": {"type": "integer"},
                                "backoff": {
                                    "type": "object",
                                    "additionalProperties": False,
                                    "properties": {
                                        "duration": {"type": "string"},
                                        "factor": {"type": "integer"},
                                        "maxDuration": {"type": "string"},
                                    },
                                },
                            },
                        },
                    },
                },
            },
        },
    },
}


def test_servicemonitor_is_structurally_valid_and_scrapes_the_metrics_port() -> None:
    monitor = one("ServiceMonitor")
    jsonschema.validate(monitor, SERVICE_MONITOR_SCHEMA)
    service = one("Service")
    selected = monitor["spec"]["selector"]["matchLabels"]
    assert selected.items() <= service["metadata"]["labels"].items()
    port_names = {p["name"]: p for p in service["spec"]["ports"]}
    endpoints = {e["port"]: e for e in monitor["spec"]["endpoints"]}
    assert set(endpoints) == {"metrics", "http"}
    endpoint = endpoints["metrics"]
    assert endpoint["path"] == "/metrics"
    target = port_names[endpoint["port"]]["targetPort"]
    container = _voila_container()
    container_port = {p["name"]: p["containerPort"] for p in container["ports"]}[target]
    args = container["args"]
    assert int(args[args.index("--metrics-port") + 1]) == container_port


def test_servicemonitor_scrapes_the_product_metrics_with_the_servers_metrics_token() -> None:
    """The analytics_* families come from GET /metrics on the dashboard port (docs/api.md), with
    a bearer token from the Secret that the Deployment also hands the server as its metrics
    token; job/instance are what the alert rules and the Grafana dashboard select on."""
    from fawkes_analytics.api.handlers import METRICS_PATH

    (endpoint,) = [e for e in one("ServiceMonitor")["spec"]["endpoints"] if e["port"] == "http"]
    assert endpoint["path"] == METRICS_PATH
    secret = endpoint["bearerTokenSecret"]
    assert secret["name"] == SECRET_NAME and not secret.get("optional")
    server_env = {e["name"]: e for e in _voila_container()["env"]}
    assert server_env["FAWKES_ANALYTICS_METRICS_TOKEN"]["valueFrom"]["secretKeyRef"] == {
        "name": SECRET_NAME,
        "key": secret["key"],
    }
    example = yaml.safe_load((REPO / "deploy" / "secret.example.yaml").read_text())
    assert secret["key"] in example["stringData"]
    set_labels = {r["targetLabel"]: r["replacement"] for r in endpoint["relabelings"]}
    assert set_labels["job"] == "fawkes_analytics"  # AnalyticsMetricsAbsent looks for this job
    assert set_labels["instance"]
    rules = (REPO / "deploy" / "prometheus" / "alerts.yml").read_text()
    assert 'job="fawkes_analytics"' in rules
    # Prometheus may reach the dashboard port from its namespace (NetworkPolicy), and the
    # scheduler no longer pushes the same series to a Pushgateway as well.
    (policy,) = BY_KIND["NetworkPolicy"]
    monitoring = [r for r in policy["spec"]["ingress"] if "monitoring" in str(r["from"])]
    assert {p["port"] for r in monitoring for p in r["ports"]} >= {"metrics", "http"}
    assert "PUSHGATEWAY_URL" not in one("ConfigMap")["data"]


def test_argocd_application_points_at_the_kustomization() -> None:
    app = yaml.safe_load((REPO / "deploy" / "argocd" / "application.yaml").read_text())
    jsonschema.validate(app, APPLICATION_SCHEMA)
    assert (REPO / app["spec"]["source"]["path"] / "kustomization.yaml").is_file()
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    assert app["spec"]["destination"]["namespace"] == kustomization["namespace"]
    assert app["spec"]["syncPolicy"]["automated"] == {"prune": True, "selfHeal": True}


def test_crd_schemas_reject_a_misspelt_field() -> None:
    broken = yaml.safe_load(yaml.safe_dump(one("ServiceMonitor")))
    broken["spec"]["endpoints"][0]["intervall"] = "30s"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, SERVICE_MONITOR_SCHEMA)


# --- availability -----------------------------------------------------------------------------


def test_voila_runs_two_replicas_spread_over_nodes() -> None:
    spec = VOILA["spec"]
    assert spec["replicas"] == 2
    assert spec["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    pod_labels = spec["template"]["metadata"]["labels"]
    assert spec["selector"]["matchLabels"] == pod_labels
    anti = spec["template"]["spec"]["affinity"]["podAntiAffinity"]
    terms = [t["podAffinityTerm"] for t in anti.get("preferredDuringSchedulingIgnoredDuringExecution", [])]
    terms += anti.get("requiredDuringSchedulingIgnoredDuringExecution", [])
    assert any(
        t["topologyKey"] == "kubernetes.io/hostname" and t["labelSelector"]["matchLabels"] == pod_labels for t in terms
    )


def test_pdb_keeps_one_voila_pod_and_selects_only_voila() -> None:
    pdb = one("PodDisruptionBudget")
    assert pdb["spec"]["minAvailable"] == 1
    selector = pdb["spec"]["selector"]["matchLabels"]
    assert selector == VOILA["spec"]["template"]["metadata"]["labels"]
    cron_labels = CRON["spec"]["jobTemplate"]["spec"]["template"]["metadata"]["labels"]
    assert not selector.items() <= cron_labels.items()


def test_probes_use_the_health_path_that_starts_no_kernel() -> None:
    container = _voila_container()
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    args = container["args"]
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        get = container[probe]["httpGet"]
        assert get["path"] == serve.HEALTH_PATH, probe
        assert ports[get["port"]] == int(args[args.index("--port") + 1]) == serve.DEFAULT_PORT


def test_service_and_ingress_route_to_the_dashboard_port_with_tls() -> None:
    service = one("Service")
    assert service["spec"]["selector"] == VOILA["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["sessionAffinity"] == "ClientIP"
    ingress = one("Ingress")
    hosts = {rule["host"] for rule in ingress["spec"]["rules"]}
    tls_hosts = {h for entry in ingress["spec"]["tls"] for h in entry["hosts"]}
    assert hosts and hosts <= tls_hosts
    assert all(entry["secretName"] for entry in ingress["spec"]["tls"])
    backends = [p["backend"]["service"] for r in ingress["spec"]["rules"] for p in r["http"]["paths"]]
    assert backends == [{"name": service["metadata"]["name"], "port": {"name": "http"}}]
    annotations = ingress["metadata"]["annotations"]
    assert annotations["nginx.ingress.kubernetes.io/affinity"] == "cookie"


def test_resources_are_set_and_requests_fit_limits() -> None:
    for obj in WORKLOADS:
        for container in containers(obj):
            res = container["resources"]
            for key in ("cpu", "memory"):
                assert _quantity(res["requests"][key]) <= _quantity(res["limits"][key]), (obj["kind"], key)
    res = _voila_container()["resources"]
    # Measured (deploy/README.md "Sizing"): ~160 MiB idle server + ~200 MiB per open dashboard.
    assert res["requests"] == {"cpu": "200m", "memory": "768Mi"}
    assert res["limits"] == {"cpu": "1", "memory": "2Gi"}


# --- security ---------------------------------------------------------------------------------


@pytest.mark.parametrize("obj", WORKLOADS, ids=lambda o: o["kind"])
def test_security_context_is_restricted(obj: dict[str, Any]) -> None:
    for spec in pod_specs(obj):
        pod = spec["securityContext"]
        assert pod["runAsNonRoot"] is True and pod["runAsUser"] == 1000
        assert pod["seccompProfile"] == {"type": "RuntimeDefault"}
        assert spec["automountServiceAccountToken"] is False
        assert not any("hostPath" in v for v in spec.get("volumes", []))
        assert not spec.get("hostNetwork") and not spec.get("hostPID")
    for container in containers(obj):
        ctx = container["securityContext"]
        assert ctx["runAsNonRoot"] is True and ctx["runAsUser"] == 1000
        assert ctx["readOnlyRootFilesystem"] is True
        assert ctx["allowPrivilegeEscalation"] is False
        assert ctx["capabilities"] == {"drop": ["ALL"]}
        assert ctx["seccompProfile"] == {"type": "RuntimeDefault"}


def _image_env() -> dict[str, str]:
    parser = DockerfileParser(path=str(REPO / "deploy" / "Dockerfile"))
    return parser.envs


@pytest.mark.parametrize("obj", WORKLOADS, ids=lambda o: o["kind"])
def test_every_writable_path_of_the_image_is_a_mounted_volume(obj: dict[str, Any]) -> None:
    env = _image_env()
    writable = [
        env[k]
        for k in (
            "HOME",
            "XDG_CACHE_HOME",
            "MPLCONFIGDIR",
            "IPYTHONDIR",
            "JUPYTER_RUNTIME_DIR",
            "JUPYTER_DATA_DIR",
            "FAWKES_ANALYTICS_REPORTS_DIR",
            "FAWKES_ANALYTICS_CACHE_DIR",
        )
    ]
    writable.append(env["FAWKES_ANALYTICS_SOURCE"].removeprefix("duckdb://"))  # the DuckDB file
    writable.append("/tmp")  # tempfile, Voilà connection files, papermill scratch
    (spec,) = pod_specs(obj)
    volumes = {v["name"]: v for v in spec["volumes"]}
    for container in containers(obj):
        mounts = [m for m in container["volumeMounts"] if not m.get("readOnly")]
        for path in writable:
            covering = [
                m for m in mounts if path == m["mountPath"] or path.startswith(m["mountPath"].rstrip("/") + "/")
            ]
            assert covering, f"{obj['kind']}: {path} is not on a writable volume"
        shared = next(m for m in mounts if m["mountPath"] == "/var/lib/fawkes/shared")
        assert (
            volumes[shared["name"]]["persistentVolumeClaim"]["claimName"]
            == one("PersistentVolumeClaim")["metadata"]["name"]
        )


def test_shared_run_folder_volume_is_read_write_many() -> None:
    assert one("PersistentVolumeClaim")["spec"]["accessModes"] == ["ReadWriteMany"]


def _env_entries() -> list[tuple[str, dict[str, Any]]]:
    return [(f"{o['kind']}/{c['name']}", e) for o in WORKLOADS for c in containers(o) for e in c.get("env", [])]


def test_secrets_come_only_from_the_secret_by_reference() -> None:
    assert "Secret" not in BY_KIND, "the kustomization must not contain a Secret (values would be in git)"
    referenced = set()
    for where, entry in _env_entries():
        if SECRETISH.search(entry["name"]):
            assert "value" not in entry, f"{where}: {entry['name']} has a literal value"
            ref = entry["valueFrom"]["secretKeyRef"]
            assert ref["name"] == SECRET_NAME
            referenced.add(ref["key"])
    for obj in WORKLOADS:
        for container in containers(obj):
            for source in container.get("envFrom", []):
                assert "secretRef" not in source or source["secretRef"]["name"] == SECRET_NAME
    for key in one("ConfigMap")["data"]:
        assert not SECRETISH.search(key), f"ConfigMap key {key} looks like a secret"
    # The example Secret documents every key the manifests reference, with placeholders only.
    example = yaml.safe_load((REPO / "deploy" / "secret.example.yaml").read_text())
    assert example["metadata"]["name"] == SECRET_NAME
    assert referenced <= set(example["stringData"]), referenced - set(example["stringData"])
    assert all(v.startswith("<") and v.endswith(">") for v in example["stringData"].values())
    assert {"FAWKES_ANALYTICS_VOILA_TOKEN", "FAWKES_ANALYTICS_SMTP_PASSWORD"} <= referenced


def _strings(node: Any):
    if isinstance(node, dict):
        for value in node.values():
            yield from _strings(value)
    elif isinstance(node, list):
        for value in node:
            yield from _strings(value)
    elif isinstance(node, str):
        yield node


def test_no_secret_looking_values_anywhere_in_the_manifests() -> None:
    suspicious = re.compile(
        r"-----BEGIN|AKIA[0-9A-Z]{16}|^(?=.*[0-9])(?=.*[a-z])[A-Za-z0-9+/=_\-]{32,}$|^[0-9a-f]{24,}$|://[^/\s:@]+:[^/\s@]+@"
    )
    documents = [*OBJECTS, yaml.safe_load((REPO / "deploy" / "argocd" / "application.yaml").read_text())]
    found = [s for doc in documents for s in _strings(doc) if suspicious.search(s)]
    assert found == []
    assert suspicious.search("0123456789abcdef0123456789abcdef")  # the pattern does catch a hex token


# --- the commands are the CLI's -----------------------------------------------------------------


def test_schedule_cronjob_runs_every_five_minutes_without_overlap() -> None:
    spec = CRON["spec"]
    assert spec["schedule"] == "*/5 * * * *" and croniter.is_valid(spec["schedule"])
    assert spec["concurrencyPolicy"] == "Forbid"
    assert spec["jobTemplate"]["spec"]["template"]["spec"]["restartPolicy"] == "Never"


def _cli_parser():
    from fawkes_analytics import cli

    return cli.build_parser()


@pytest.mark.parametrize("obj", WORKLOADS, ids=lambda o: o["kind"])
def test_container_commands_are_fawkes_analytics_cli_commands(obj: dict[str, Any]) -> None:
    parser = _cli_parser()
    for container in containers(obj):
        assert container["command"] == ["fawkes-analytics"]
        args = parser.parse_args(container["args"])  # SystemExit(2) if the CLI lacks the command
        assert callable(args.func)
        if obj["kind"] == "CronJob":
            assert container["args"] == ["schedule", "--once"] and args.once is True
        elif container["name"] == "check":  # the Deployment's start-up check (init container)
            assert container["args"][0] == "check" and args.serve_host == "0.0.0.0"
        else:
            assert container["args"][0] == "serve" and args.func is serve._run


def test_image_entrypoint_and_default_command_are_the_cli() -> None:
    import json

    parser = DockerfileParser(path=str(REPO / "deploy" / "Dockerfile"))
    entry = [i for i in parser.structure if i["instruction"] == "ENTRYPOINT"][-1]["value"]
    cmd = [i for i in parser.structure if i["instruction"] == "CMD"][-1]["value"]
    assert json.loads(entry) == ["fawkes-analytics"]
    args = _cli_parser().parse_args(json.loads(cmd))
    assert args.func is serve._run and args.host == "0.0.0.0" and args.port == serve.DEFAULT_PORT
    exposed = [i["value"] for i in parser.structure if i["instruction"] == "EXPOSE"]
    assert exposed == [str(serve.DEFAULT_PORT)]


@pytest.mark.slow
@pytest.mark.parametrize("command", ["serve", "schedule"])
def test_installed_console_script_knows_the_commands(command: str) -> None:
    script = shutil.which("fawkes-analytics") or str(Path(__import__("sys").executable).with_name("fawkes-analytics"))
    result = subprocess.run([script, command, "--help"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert shlex.quote(command) in result.stdout
