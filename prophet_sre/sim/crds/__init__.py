"""CustomResourceDefinition manifests the simulator can install: Cluster API (core, KubeadmControlPlane,
infrastructure clusters) and Gateway API plus the MCS ServiceImport.

Role: data only - each function returns complete `apiextensions.k8s.io/v1` objects that become served types
the moment a simulated cluster stores them (see `registry.types_from_crd`). Limits: schemas are open
(declared top-level fields, unknown fields preserved) and there is no conversion between versions.
Nothing here talks to a cluster; `install` is the one helper that writes them into a store.
"""

from __future__ import annotations

from prophet_sre.sim import status as st
from prophet_sre.sim.crds.capi import core_crds, kubeadm_control_plane
from prophet_sre.sim.crds.gateway import gateway_crds
from prophet_sre.sim.crds.infra import infra_crds
from prophet_sre.sim.crds.schema import Obj
from prophet_sre.sim.store import Store

CRD_GROUP = "apiextensions.k8s.io"


def cluster_api_crds() -> list[Obj]:
    """Everything a management cluster needs after `clusterctl init` with kubeadm plus the four infra providers."""
    return [*core_crds(), kubeadm_control_plane(), *infra_crds()]


def all_crds() -> list[Obj]:
    return [*cluster_api_crds(), *gateway_crds()]


def install(store: Store, crds: list[Obj]) -> int:
    """Create the CRDs that are not there yet; returns how many were created."""
    rt = store.registry.storage_type(CRD_GROUP, "customresourcedefinitions")
    assert rt is not None
    made = 0
    for crd in crds:
        try:
            store.create(rt, crd)
            made += 1
        except st.ApiError as e:
            if e.reason != "AlreadyExists":
                raise
    return made


__all__ = ["all_crds", "cluster_api_crds", "gateway_crds", "install"]
