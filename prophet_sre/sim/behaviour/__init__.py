"""The behaviour model of simulated pods: what images do, and how faults show on a real node.

`images` is the catalog (the scenario format's `images:` section, merged over `builtin.yaml`);
`programs` and `shell` turn a container's command into a time line; `process` is one running
instance (memory, CPU, service, probes, log lines); `podconfig` is the kubelet's ConfigMap/Secret
checks; `probing` its probe workers; `texts` every failure's exact wording; `runtime` ties them into
the kubelet's `ContainerRuntime` seam. The kubelet installs `BehaviourRuntime` unless a test or tool
put another runtime into `ControllerContext.extras["container_runtime"]` first.

This package never writes to the store itself: the kubelet posts statuses and events from what the
runtime tells it, so the behaviour stays a model of facts, not a second controller.
"""

from prophet_sre.sim.behaviour.images import Catalog, ImageCatalogError, ImageSpec
from prophet_sre.sim.behaviour.runtime import BehaviourRuntime, install, runtime_of

__all__ = ["BehaviourRuntime", "Catalog", "ImageCatalogError", "ImageSpec", "install", "runtime_of"]
