"""Admission webhook analyzers (K8sGPT `ValidatingWebhookConfiguration`, `MutatingWebhookConfiguration`).

A webhook whose Service is missing, selects no pod, or selects pods that are not Running will make the
API server reject (failurePolicy Fail) or silently skip (Ignore) every matching request - a classic
"nothing can be created" outage. One finding per webhook, reported against its configuration, with
K8sGPT's texts. Webhooks called by URL (no `clientConfig.service`) have no pods to check and are skipped.
"""

from __future__ import annotations

from collections.abc import Callable

from prophet_sre.domain import Finding, Severity
from prophet_sre.tools.analyzers.base import Analyzer, Snapshot, finding
from prophet_sre.tools.kube import objects as o


def _webhooks(resource: str, kind: str, label: str) -> Callable[[Snapshot], list[Finding]]:
    def analyze(snap: Snapshot) -> list[Finding]:
        out = []
        for cfg in snap.objects(resource):
            for wh in o.items(cfg.get("webhooks")):
                ref = o.mapping(o.dig(wh, "clientConfig", "service"))
                svc_ns, svc_name, wh_name = o.text(ref.get("namespace")), o.text(ref.get("name")), o.text(wh.get("name"))
                if not svc_name:
                    continue
                errors: list[str] = []
                svc = snap.find("services", svc_ns, svc_name)
                if svc is None:
                    errors.append(f"Service {svc_name} not found as mapped to by {label} {wh_name}")
                else:
                    selector = o.str_map(o.dig(svc, "spec", "selector"))
                    pods = snap.select("pods", svc_ns, selector) if selector else None
                    if pods is not None and not pods:
                        errors.append(f"No active pods found within service {svc_name} as mapped to by {label} "
                                      f"{wh_name}")
                    errors += [f"{label} ({wh_name}) is pointing to an inactive receiver pod ({o.name(p)})"
                               for p in pods or [] if o.text(o.dig(p, "status", "phase")) != "Running"]
                if errors:
                    fail = o.text(wh.get("failurePolicy")) in ("", "Fail")
                    out.append(finding(snap, kind, kind, cfg, errors, namespaced=False,
                                       severity=Severity.ERROR if fail else Severity.WARNING,
                                       evidence={"webhook": wh_name, "service": f"{svc_ns}/{svc_name}",
                                                 "k8sgpt_name": f"{o.namespace(cfg)}/{wh_name}"}))
        return out
    return analyze


validating = _webhooks("validatingwebhookconfigurations", "ValidatingWebhookConfiguration", "Validating Webhook")
mutating = _webhooks("mutatingwebhookconfigurations", "MutatingWebhookConfiguration", "Mutating Webhook")

ANALYZERS = (
    Analyzer("ValidatingWebhookConfiguration", "ValidatingWebhookConfiguration", validating,
             needs=("validatingwebhookconfigurations",)),
    Analyzer("MutatingWebhookConfiguration", "MutatingWebhookConfiguration", mutating,
             needs=("mutatingwebhookconfigurations",)),
)

__all__ = ["ANALYZERS", "mutating", "validating"]
