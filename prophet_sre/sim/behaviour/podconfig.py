"""What the kubelet checks before a container can exist: its volumes and its environment.

Two real failure modes live here, each with the kubelet's exact wording: a ConfigMap or Secret volume
that cannot be set up keeps the whole pod in `ContainerCreating` with `FailedMount` events; an env or
envFrom reference that cannot be resolved makes that container wait in `CreateContainerConfigError`.
Both are re-checked on every kubelet retry against the store, so creating the missing object is a fix.
The same lookups give the process its environment and the set of ConfigMap/Secret keys it can read.
"""

from __future__ import annotations

import base64
from typing import Any

from prophet_sre.sim.behaviour import texts
from prophet_sre.sim.controllers.base import ControllerContext

Obj = dict[str, Any]
_KINDS = {"configmap": ("", "configmaps", "ConfigMap"), "secret": ("", "secrets", "Secret")}


class PodConfig:
    """Store lookups for one pod (ConfigMaps and Secrets of its namespace)."""

    def __init__(self, ctx: ControllerContext, pod: Obj) -> None:
        self.ctx = ctx
        self.pod = pod
        self.ns = (pod.get("metadata") or {}).get("namespace", "") or "default"

    def _get(self, kind: str, name: str) -> Obj | None:
        group, plural, _ = _KINDS[kind]
        return self.ctx.store.try_get(self.ctx.rt(group, plural), self.ns, name)

    @staticmethod
    def _data(kind: str, obj: Obj) -> dict[str, str]:
        if kind == "configmap":
            return {**{k: "" for k in obj.get("binaryData") or {}}, **(obj.get("data") or {})}
        out = {}
        for k, v in (obj.get("data") or {}).items():
            try:
                out[k] = base64.b64decode(v).decode(errors="replace")
            except (ValueError, TypeError):
                out[k] = str(v)
        out.update(obj.get("stringData") or {})
        return out

    # -- volumes ---------------------------------------------------------------------------------------------
    def volume_errors(self) -> list[tuple[str, str]]:
        """(volume, `MountVolume.SetUp failed ...` message) for each volume that cannot be set up now."""
        out = []
        for vol in (self.pod.get("spec") or {}).get("volumes") or ():
            why = self._volume_error(vol)
            if why:
                out.append((vol.get("name", ""), texts.mount_failed(vol.get("name", ""), why)))
        return out

    def _volume_error(self, vol: Obj) -> str:
        sources: list[tuple[str, Obj]] = []
        if vol.get("configMap"):
            sources.append(("configmap", vol["configMap"]))
        if vol.get("secret"):
            sources.append(("secret", {**vol["secret"], "name": vol["secret"].get("secretName", "")}))
        for src in ((vol.get("projected") or {}).get("sources") or ()):
            if src.get("configMap"):
                sources.append(("configmap", src["configMap"]))
            if src.get("secret"):
                sources.append(("secret", src["secret"]))
        for kind, src in sources:
            name = src.get("name", "")
            obj = self._get(kind, name)
            if obj is None:
                if src.get("optional"):
                    continue
                return texts.not_found(kind, name)
            data = self._data(kind, obj)
            for item in src.get("items") or ():
                if item.get("key") not in data and not src.get("optional"):
                    what = "configmap references non-existent config key" if kind == "configmap" \
                        else "references non-existent secret key"
                    return f"{what}: {item.get('key')}"
        return ""

    # -- environment -------------------------------------------------------------------------------------------
    def env_error(self, container: Obj) -> str:
        """The kubelet's error for the container's env/envFrom ("" when it resolves)."""
        return self._resolve(container)[1]

    def environment(self, container: Obj) -> tuple[dict[str, str], frozenset[str]]:
        """The process environment (as far as it resolves) and the ConfigMap/Secret keys the container sees."""
        env, _, provided = self._resolve(container, collect=True)
        for vol in (self.pod.get("spec") or {}).get("volumes") or ():
            mounted = any(m.get("name") == vol.get("name") for m in container.get("volumeMounts") or ())
            if not mounted:
                continue
            for kind, src in (("configmap", vol.get("configMap")),
                              ("secret", {"name": (vol.get("secret") or {}).get("secretName")}
                               if vol.get("secret") else None)):
                if not src:
                    continue
                obj = self._get(kind, src.get("name", ""))
                if obj is None:
                    continue
                provided.add(f"{kind}:{src['name']}")
                keys = [i.get("key") for i in src.get("items") or ()] or list(self._data(kind, obj))
                provided.update(f"{kind}:{src['name']}/{k}" for k in keys)
        return env, frozenset(provided)

    def _resolve(self, container: Obj, collect: bool = False) -> tuple[dict[str, str], str, set[str]]:
        env: dict[str, str] = {}
        provided: set[str] = set()
        first_error = ""
        for src in container.get("envFrom") or ():
            for kind, ref in (("configmap", src.get("configMapRef")), ("secret", src.get("secretRef"))):
                if not ref:
                    continue
                obj = self._get(kind, ref.get("name", ""))
                if obj is None:
                    if not ref.get("optional") and not first_error:
                        first_error = texts.not_found(kind, ref.get("name", ""))
                    continue
                provided.add(f"{kind}:{ref['name']}")
                for k, v in self._data(kind, obj).items():
                    env[(src.get("prefix") or "") + k] = v
                    provided.add(f"{kind}:{ref['name']}/{k}")
        for var in container.get("env") or ():
            name = var.get("name", "")
            if "value" in var or not var.get("valueFrom"):
                env[name] = str(var.get("value", ""))
                continue
            vf = var["valueFrom"]
            for kind, ref in (("configmap", vf.get("configMapKeyRef")), ("secret", vf.get("secretKeyRef"))):
                if not ref:
                    continue
                obj = self._get(kind, ref.get("name", ""))
                data = self._data(kind, obj) if obj is not None else {}
                key = ref.get("key", "")
                if obj is None and not ref.get("optional"):
                    first_error = first_error or texts.not_found(kind, ref.get("name", ""))
                elif obj is not None and key not in data and not ref.get("optional"):
                    first_error = first_error or texts.missing_key(key, _KINDS[kind][2], self.ns, ref.get("name", ""))
                elif key in data:
                    env[name] = data[key]
                    provided.update({f"{kind}:{ref['name']}", f"{kind}:{ref['name']}/{key}"})
            if vf.get("fieldRef"):
                env[name] = self._field(vf["fieldRef"].get("fieldPath", ""))
            if first_error and not collect:
                return env, first_error, provided
        return env, first_error, provided

    def _field(self, path: str) -> str:
        meta, spec, status = (self.pod.get(k) or {} for k in ("metadata", "spec", "status"))
        return str({"metadata.name": meta.get("name"), "metadata.namespace": meta.get("namespace"),
                    "metadata.uid": meta.get("uid"), "spec.nodeName": spec.get("nodeName"),
                    "spec.serviceAccountName": spec.get("serviceAccountName"), "status.podIP": status.get("podIP"),
                    "status.hostIP": status.get("hostIP")}.get(path) or "")


def process_env(pod: Obj, container: Obj, env: dict[str, str]) -> dict[str, str]:
    """The environment a container's process sees: PATH and HOSTNAME first, the pod's vars, HOME last."""
    out = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
           "HOSTNAME": (pod.get("metadata") or {}).get("name", "")}
    out.update(env)
    out.setdefault("KUBERNETES_SERVICE_HOST", "10.96.0.1")
    out.setdefault("KUBERNETES_SERVICE_PORT", "443")
    out.setdefault("HOME", "/root")
    return out
