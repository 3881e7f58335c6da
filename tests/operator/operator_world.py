"""Test helpers for the operator: a simulated cluster with the CRD applied, objects, and an operator thread.

Real parts only: the simulator's API server (CRDs, status subresource, Leases, Events), the real kopf
framework, the real remediation graph. The operator runs in a thread of the test process with
`run_operator` (the same function `prophet operator` runs), or as a `prophet operator` subprocess.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml

from prophet_sre.config import AgentSettings, KubeSettings, Settings
from prophet_sre.operator.controller import OperatorConfig
from prophet_sre.operator.leader import LeaseConfig
from prophet_sre.operator.service import run_operator
from prophet_sre.operator.status import GROUP, PLURAL, VERSION, object_path
from prophet_sre.sim.cluster import ClusterOptions, SimCluster
from prophet_sre.tools.kube.client import KubeClient
from prophet_sre.tools.kube.errors import Op

ROOT = Path(__file__).resolve().parents[2]
SUITE = ROOT / "evals" / "scenarios"
DEPLOY = ROOT / "deploy"
CRD = DEPLOY / "crds" / "aiops.prophet.io_autonomousactions.yaml"
JSON = {"Content-Type": "application/json"}
MERGE = {"Content-Type": "application/merge-patch+json"}


def crd() -> dict[str, Any]:
    return yaml.safe_load(CRD.read_text())


def create(kube: KubeClient, path: str, body: dict[str, Any]) -> dict[str, Any]:
    resp = kube.request("POST", path, op=Op("create", path), body=body, headers=JSON)
    return json.loads(resp.body)


def install_crd(kube: KubeClient) -> None:
    create(kube, "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", crd())
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:  # served once discovery lists it
        try:
            kube.get_json(f"/apis/{GROUP}/{VERSION}/{PLURAL}", op=Op("list", PLURAL, GROUP))
            return
        except Exception:  # noqa: BLE001 - not served yet
            time.sleep(0.1)
    raise AssertionError("the AutonomousAction CRD was never served")


def ensure_namespace(kube: KubeClient, name: str) -> None:
    try:
        kube.get("namespaces", name)
    except Exception:  # noqa: BLE001 - absent
        create(kube, "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})


def autonomous_action(name: str, spec: dict[str, Any], namespace: str = "prophet-system") -> dict[str, Any]:
    return {"apiVersion": f"{GROUP}/{VERSION}", "kind": "AutonomousAction",
            "metadata": {"name": name, "namespace": namespace}, "spec": spec}


def create_aa(kube: KubeClient, name: str, spec: dict[str, Any], namespace: str = "prophet-system") -> dict[str, Any]:
    return create(kube, object_path(namespace), autonomous_action(name, spec, namespace))


def get_aa(kube: KubeClient, name: str, namespace: str = "prophet-system") -> dict[str, Any]:
    return kube.get_json(object_path(namespace, name), op=Op("get", PLURAL, GROUP, namespace, name))


def annotate(kube: KubeClient, name: str, annotations: dict[str, str | None], namespace: str = "prophet-system") -> None:
    kube.request("PATCH", object_path(namespace, name), op=Op("patch", PLURAL, GROUP, namespace, name),
                 body={"metadata": {"annotations": annotations}}, headers=MERGE)


def events_on(kube: KubeClient, name: str, namespace: str = "prophet-system") -> list[dict[str, Any]]:
    return [e for e in kube.list("events", namespace)
            if (e.get("involvedObject") or {}).get("kind") == "AutonomousAction"
            and (e.get("involvedObject") or {}).get("name") == name]


def wait_for(what: str, check: Callable[[], Any], timeout: float = 90.0, every: float = 0.2) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(every)
    raise AssertionError(f"timed out waiting for {what} (last: {last!r})")


def audit_records(data: Path) -> list[dict[str, Any]]:
    path = data / "audit.jsonl"
    if not path.exists():
        return []
    out = []
    for line in path.read_text().splitlines():
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            pass
    return out


def image(kube: KubeClient, namespace: str = "demo", name: str = "web") -> str:
    d = kube.get("deployments", name, namespace)
    return str(d["spec"]["template"]["spec"]["containers"][0]["image"])


def available(kube: KubeClient, namespace: str = "demo", name: str = "web") -> bool:
    d = kube.get("deployments", name, namespace)
    st = d.get("status") or {}
    want = (d.get("spec") or {}).get("replicas", 1)
    return st.get("updatedReplicas") == want and st.get("availableReplicas") == want \
        and st.get("observedGeneration", 0) >= d["metadata"]["generation"]


@contextmanager
def sim_world(tmp: Path, scenario: str | None = "bad-image-tag.yaml", speed: float = 50.0
              ) -> Iterator[tuple[SimCluster, Path, KubeClient]]:
    """A simulated cluster (with a scenario's fault), the CRD installed and namespace prophet-system."""
    c = SimCluster(ClusterOptions(speed=speed, scenarios=[SUITE / scenario] if scenario else []))
    c.start()
    kube = None
    try:
        kubeconfig = c.write_kubeconfig(tmp / "kubeconfig")
        kube = KubeClient.from_kubeconfig(kubeconfig)
        install_crd(kube)
        ensure_namespace(kube, "prophet-system")
        yield c, kubeconfig, kube
    finally:
        if kube is not None:
            kube.close()
        c.stop()


def settings_for(kubeconfig: Path, data: Path, identity: str = "prophet-test") -> Settings:
    return Settings(data_dir=data, kube=KubeSettings(kubeconfig=kubeconfig),
                    agents=AgentSettings(identity=identity, verify_hold_s=10.0, verify_poll_s=0.2))


@contextmanager
def operator_thread(settings: Settings, *, identity: str = "prophet-test", interval_s: float = 0.5,
                    **controller_kw: Any) -> Iterator[threading.Event]:
    """`run_operator` in a thread (leader election included) until the block ends."""
    stop = threading.Event()
    config = OperatorConfig(identity=identity, interval_s=interval_s, dedup_window_s=600)
    lease = LeaseConfig(lease_duration_s=3.0, renew_deadline_s=2.0, retry_period_s=0.5)
    result: list[int] = []
    kw = {"knowledge": False, **controller_kw}
    t = threading.Thread(target=lambda: result.append(run_operator(settings, config, lease, stop=stop,
                                                                   controller_kw=kw)),
                         name="operator-under-test", daemon=True)
    t.start()
    try:
        yield stop
    finally:
        stop.set()
        t.join(timeout=30)
        assert not t.is_alive(), "the operator did not stop"
