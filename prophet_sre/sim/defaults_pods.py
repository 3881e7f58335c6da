"""Defaults for pod specs, pod templates and Pods, as kube-apiserver applies them.

Two sources of defaults meet here. The API's defaulting functions (SetDefaults_PodSpec, _Container,
_Probe, _Volume, ...) run for every pod spec, including the templates inside Deployments and Jobs.
The admission plugins (ServiceAccount, DefaultTolerationSeconds, Priority) and the pod strategy run
only when a Pod itself is created: they add the service-account token volume, the not-ready and
unreachable tolerations, `priority`, and the initial status. Getting both right is what makes
`kubectl get pod -o yaml` and `kubectl describe pod` against the simulator look like a real cluster.

Every helper tolerates malformed input: it defaults what is well-formed and leaves the rest for
validation to report.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

from prophet_sre.sim.validation_quantity import format_quantity, parse_quantity_with_format

DEFAULT_MODE = 0o644  # 420
SA_MOUNT_PATH = "/var/run/secrets/kubernetes.io/serviceaccount"
SA_TOKEN_EXPIRATION = 3607
SYSTEM_PRIORITIES = {"system-node-critical": 2000001000, "system-cluster-critical": 2000000000}
_NAME_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"  # k8s.io/apimachinery/pkg/util/rand: no vowels, no 0/1/3
_IMAGE_REF = re.compile(r"^[a-z0-9]+(?:[._-][a-z0-9]+|__)*(?::[0-9]+)?(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*"
                        r"(?::[\w][\w.-]{0,127})?(?:@[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,})?$")
_PROBES = ("livenessProbe", "readinessProbe", "startupProbe")
_QOS_RESOURCES = ("cpu", "memory")


# --- small total helpers -------------------------------------------------------------------------------
def setdefault(d: dict, key: str, value: Any) -> None:
    """Set `key` when absent or null (JSON null means unset to a Go decoder)."""
    if d.get(key) is None:
        d[key] = value


def sub(d: dict, key: str) -> dict | None:
    """The child map `key`, created when absent; None when it is there with a wrong type."""
    v = d.get(key)
    if v is None:
        v = d[key] = {}
    return v if isinstance(v, dict) else None


def child_map(d: Any, key: str) -> dict | None:
    """The child map `key` if it exists and is a map (never created)."""
    if not isinstance(d, dict):
        return None
    v = d.get(key)
    return v if isinstance(v, dict) else None


def items(d: Any, key: str) -> list[dict]:
    """The map elements of the list `key` (other elements are validation's business)."""
    if not isinstance(d, dict):
        return []
    v = d.get(key)
    return [x for x in v if isinstance(x, dict)] if isinstance(v, list) else []


def canonical_quantities(m: Any) -> None:
    """Rewrite every parseable quantity of a ResourceList in canonical form (`1000m` -> `"1"`)."""
    if not isinstance(m, dict):
        return
    for k, v in list(m.items()):
        if isinstance(v, bool) or not isinstance(v, str | int | float):
            continue
        try:
            m[k] = format_quantity(*parse_quantity_with_format(v))
        except ValueError:
            pass


def _canonical_quantity_field(d: Any, key: str) -> None:
    if isinstance(d, dict) and key in d:
        wrapper = {key: d[key]}
        canonical_quantities(wrapper)
        d[key] = wrapper[key]


# --- containers -------------------------------------------------------------------------------------
def pull_policy_for(image: Any) -> str:
    """SetDefaults_Container: Always for `:latest` (or no tag and no digest), otherwise IfNotPresent."""
    if not isinstance(image, str) or not image or not _IMAGE_REF.match(image):
        return "IfNotPresent"
    name, _, digest = image.partition("@")
    last = name.rsplit("/", 1)[-1]
    tag = last.rsplit(":", 1)[1] if ":" in last else ("" if digest else "latest")
    return "Always" if tag == "latest" else "IfNotPresent"


def _default_http_get(handler: Any) -> None:
    http = child_map(handler, "httpGet")
    if http is not None:
        if not http.get("path"):
            http["path"] = "/"
        if not http.get("scheme"):
            http["scheme"] = "HTTP"


def _default_probe(probe: Any) -> None:
    if not isinstance(probe, dict):
        return
    setdefault(probe, "timeoutSeconds", 1)
    setdefault(probe, "periodSeconds", 10)
    setdefault(probe, "successThreshold", 1)
    setdefault(probe, "failureThreshold", 3)
    _default_http_get(probe)


def _default_field_ref(holder: Any) -> None:
    ref = child_map(holder, "fieldRef")
    if ref is not None:
        setdefault(ref, "apiVersion", "v1")
    rref = child_map(holder, "resourceFieldRef")
    if rref is not None:
        setdefault(rref, "divisor", "0")
        _canonical_quantity_field(rref, "divisor")


def default_container(c: dict, host_network: bool = False) -> None:
    setdefault(c, "terminationMessagePath", "/dev/termination-log")
    setdefault(c, "terminationMessagePolicy", "File")
    setdefault(c, "imagePullPolicy", pull_policy_for(c.get("image")))
    res = sub(c, "resources")
    if res is not None:
        canonical_quantities(res.get("limits"))
        canonical_quantities(res.get("requests"))
    for port in items(c, "ports"):
        setdefault(port, "protocol", "TCP")
        if host_network and not port.get("hostPort") and isinstance(port.get("containerPort"), int):
            port["hostPort"] = port["containerPort"]
    for key in _PROBES:
        _default_probe(c.get(key))
    lifecycle = child_map(c, "lifecycle")
    for hook in ("postStart", "preStop"):
        _default_http_get(child_map(lifecycle, hook))
    for env in items(c, "env"):
        _default_field_ref(child_map(env, "valueFrom"))


# --- volumes ------------------------------------------------------------------------------------------
_VOLUME_SOURCES = (
    "hostPath", "emptyDir", "gcePersistentDisk", "awsElasticBlockStore", "gitRepo", "secret", "nfs", "iscsi",
    "glusterfs", "persistentVolumeClaim", "rbd", "flexVolume", "cinder", "cephfs", "flocker", "downwardAPI",
    "fc", "azureFile", "configMap", "vsphereVolume", "quobyte", "azureDisk", "photonPersistentDisk",
    "projected", "portworxVolume", "scaleIO", "storageos", "csi", "ephemeral", "image",
)


def _default_volume(vol: dict) -> None:
    if not any(vol.get(k) is not None for k in _VOLUME_SOURCES):
        vol["emptyDir"] = {}
    for key in ("secret", "configMap", "downwardAPI", "projected"):
        src = child_map(vol, key)
        if src is not None:
            setdefault(src, "defaultMode", DEFAULT_MODE)
    for item in items(child_map(vol, "downwardAPI"), "items"):
        _default_field_ref(item)
    for source in items(child_map(vol, "projected"), "sources"):
        token = child_map(source, "serviceAccountToken")
        if token is not None:
            setdefault(token, "expirationSeconds", 3600)
        for item in items(child_map(source, "downwardAPI"), "items"):
            _default_field_ref(item)
    host_path = child_map(vol, "hostPath")
    if host_path is not None:
        setdefault(host_path, "type", "")
    _canonical_quantity_field(child_map(vol, "emptyDir"), "sizeLimit")
    eph = child_map(child_map(vol, "ephemeral"), "volumeClaimTemplate")
    if eph is not None:
        spec = child_map(eph, "spec")
        if spec is not None:
            default_pvc_spec(spec)


def default_pvc_spec(spec: dict) -> None:
    """SetDefaults_PersistentVolumeClaimSpec, shared by claims, claim templates and ephemeral volumes."""
    setdefault(spec, "volumeMode", "Filesystem")
    res = child_map(spec, "resources")
    if res is not None:
        canonical_quantities(res.get("requests"))
        canonical_quantities(res.get("limits"))


# --- pod specs, templates -------------------------------------------------------------------------------
def default_pod_spec(spec: dict) -> None:
    """SetDefaults_PodSpec and everything it reaches: what every pod spec, template or not, gets."""
    setdefault(spec, "dnsPolicy", "ClusterFirst")
    setdefault(spec, "restartPolicy", "Always")
    setdefault(spec, "terminationGracePeriodSeconds", 30)
    setdefault(spec, "securityContext", {})
    setdefault(spec, "schedulerName", "default-scheduler")
    setdefault(spec, "enableServiceLinks", True)
    host_network = spec.get("hostNetwork") is True
    for key in ("initContainers", "containers", "ephemeralContainers"):
        for c in items(spec, key):
            default_container(c, host_network and key != "ephemeralContainers")
    for vol in items(spec, "volumes"):
        _default_volume(vol)
    canonical_quantities(spec.get("overhead"))


def default_pod_template(template: Any) -> None:
    """A PodTemplateSpec inside a controller: `metadata: {}` plus the pod-spec defaults."""
    if not isinstance(template, dict):
        return
    setdefault(template, "metadata", {})
    spec = sub(template, "spec")  # a Go PodSpec is a value, so even a missing one is defaulted
    if spec is not None:
        default_pod_spec(spec)


# --- Pods only ----------------------------------------------------------------------------------------
def _requests_from_limits(spec: dict) -> None:
    """SetDefaults_Pod: a container that sets only limits gets equal requests."""
    for key in ("initContainers", "containers"):
        for c in items(spec, key):
            res = child_map(c, "resources")
            limits = child_map(res, "limits")
            if res is None or not limits:
                continue
            requests = sub(res, "requests")
            if requests is None:
                continue
            for name, value in limits.items():
                requests.setdefault(name, value)


def _qos_sum(total: dict[str, Any], resources: Any) -> set[str]:
    found: set[str] = set()
    if not isinstance(resources, dict):
        return found
    for name in _QOS_RESOURCES:
        raw = resources.get(name)
        if raw is None:
            continue
        try:
            value = parse_quantity_with_format(raw)[0]
        except ValueError:
            continue
        if value > 0:
            total[name] = total.get(name, 0) + value
            found.add(name)
    return found


def pod_qos_class(spec: Any) -> str:
    """GetPodQOS: BestEffort, Burstable or Guaranteed from the containers' cpu/memory requests and limits."""
    requests: dict[str, Any] = {}
    limits: dict[str, Any] = {}
    guaranteed = True
    for key in ("containers", "initContainers"):
        for c in items(spec, key):
            res = child_map(c, "resources") or {}
            _qos_sum(requests, res.get("requests"))
            if _qos_sum(limits, res.get("limits")) != set(_QOS_RESOURCES):
                guaranteed = False
    if not requests and not limits:
        return "BestEffort"
    if guaranteed and all(limits.get(n) == v for n, v in requests.items()) and len(requests) == len(limits):
        return "Guaranteed"
    return "Burstable"


def _random_suffix(seed: str, n: int = 5) -> str:
    digest = hashlib.sha256(seed.encode()).digest()
    return "".join(_NAME_ALPHABET[b % len(_NAME_ALPHABET)] for b in digest[:n])


def _add_service_account_volume(obj: dict, spec: dict) -> None:
    """The ServiceAccount admission plugin's projected token volume and its mounts."""
    if spec.get("automountServiceAccountToken") is False:
        return
    containers = [c for key in ("initContainers", "containers") for c in items(spec, key)]
    if any(m.get("mountPath") == SA_MOUNT_PATH for c in containers for m in items(c, "volumeMounts")):
        return
    volumes = spec.get("volumes")
    if volumes is None:
        volumes = spec["volumes"] = []
    if not isinstance(volumes, list):
        return
    meta = obj.get("metadata") if isinstance(obj.get("metadata"), dict) else {}
    name = "kube-api-access-" + _random_suffix(str(meta.get("uid") or meta.get("name") or ""))
    volumes.append({"name": name, "projected": {"defaultMode": DEFAULT_MODE, "sources": [
        {"serviceAccountToken": {"expirationSeconds": SA_TOKEN_EXPIRATION, "path": "token"}},
        {"configMap": {"items": [{"key": "ca.crt", "path": "ca.crt"}], "name": "kube-root-ca.crt"}},
        {"downwardAPI": {"items": [{"fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"},
                                    "path": "namespace"}]}},
    ]}})
    for c in containers:
        mounts = c.get("volumeMounts")
        if mounts is None:
            mounts = c["volumeMounts"] = []
        if isinstance(mounts, list):
            mounts.append({"mountPath": SA_MOUNT_PATH, "name": name, "readOnly": True})


def _tolerates(tolerations: list[dict], key: str) -> bool:
    return any(t.get("key") in (key, "", None) and t.get("effect") in ("NoExecute", "", None) for t in tolerations)


def _add_default_tolerations(spec: dict) -> None:
    """DefaultTolerationSeconds: tolerate not-ready and unreachable nodes for 300s."""
    tolerations = spec.get("tolerations")
    if tolerations is None:
        tolerations = spec["tolerations"] = []
    if not isinstance(tolerations, list):
        return
    dicts = [t for t in tolerations if isinstance(t, dict)]
    for key in ("node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable"):
        if not _tolerates(dicts, key):
            tolerations.append({"effect": "NoExecute", "key": key, "operator": "Exists", "tolerationSeconds": 300})


def default_pod(obj: dict, old: dict | None) -> None:
    """Defaults for a Pod: the spec defaults always; admission and initial status on create."""
    spec = sub(obj, "spec")
    if spec is None:
        return
    default_pod_spec(spec)
    _requests_from_limits(spec)
    if old is None:
        setdefault(spec, "serviceAccountName", "default")
    if isinstance(spec.get("serviceAccountName"), str):
        setdefault(spec, "serviceAccount", spec["serviceAccountName"])
    if old is not None:
        return
    _add_service_account_volume(obj, spec)
    _add_default_tolerations(spec)
    pcn = spec.get("priorityClassName")
    if not pcn:
        setdefault(spec, "priority", 0)
    elif pcn in SYSTEM_PRIORITIES:
        setdefault(spec, "priority", SYSTEM_PRIORITIES[pcn])
    setdefault(spec, "preemptionPolicy", "PreemptLowerPriority")
    status = sub(obj, "status")
    if status is not None:
        setdefault(status, "phase", "Pending")
        setdefault(status, "qosClass", pod_qos_class(spec))
