"""The admission plugins the workload controllers rely on, installed in kube-apiserver's order.

kube-apiserver runs DefaultStorageClass and StorageObjectInUseProtection (mutating), then
PersistentVolumeClaimResize and ResourceQuota (validating, quota last) after defaulting and
validation. `install_admission` appends them to a store that already has defaulting and validation,
so the cluster and the in-process test harness enforce the same rules.
"""

from __future__ import annotations

from prophet_sre.sim.controllers.quota import QuotaAdmission
from prophet_sre.sim.controllers.volumebinding import StorageAdmission
from prophet_sre.sim.registry import Registry
from prophet_sre.sim.store import Store


def install_admission(store: Store, registry: Registry) -> None:
    """Add storage admission, then ResourceQuota, to `store`."""
    store.add_admission(StorageAdmission(store, registry))
    store.add_admission(QuotaAdmission(store, registry))
