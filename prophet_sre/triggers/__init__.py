"""triggers: when Prophet opens an incident - `prophet run` and the operator both poll a `TriggerWatch`.

Role: turn a policy's `TriggerSpec` (anomaly | k8sgpt | hubble | event | schedule) into `Trigger`s for
the remediation graph: evidence from the matching source (`collect.py`), scoped to the watched and
allowed namespaces and the selector, grouped per target workload and de-duplicated on the cluster's
clock (`watch.py`). Limits: polling, not watching - the caller decides the cadence; one cluster per
watch; a source that is down is a note (`last_notes`), never an exception.
"""

from prophet_sre.triggers.collect import KUBE_SIGNALS, NO_PROMETHEUS
from prophet_sre.triggers.watch import TriggerWatch, reason_key, target_of

__all__ = ["KUBE_SIGNALS", "NO_PROMETHEUS", "TriggerWatch", "reason_key", "target_of"]
