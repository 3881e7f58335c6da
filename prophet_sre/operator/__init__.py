"""operator: `prophet operator`, the reasoning loop in the cluster, driven by `AutonomousAction` objects.

- `controller.py`: validate objects, poll their triggers, run incidents under the strictest applicable
  policy, accept approvals by annotation, write status and Events (framework-free, tested directly).
- `policy.py`: which objects apply to a target (their strictest merge is `prophet_sre.policy.merge`).
- `leader.py`: leader election on a `coordination.k8s.io/v1` Lease.
- `status.py`: the status subresource and Events on the object.
- `kopf_app.py`: kopf handlers calling the controller; `service.py`: health, leadership, kopf.
The CRD and the deployment manifests are under `deploy/`.
"""

from prophet_sre.operator.controller import APPROVE_ANNOTATION, REJECT_ANNOTATION, Controller, OperatorConfig
from prophet_sre.operator.leader import LeaseConfig, LeaseElector
from prophet_sre.operator.policy import applicable, applies
from prophet_sre.policy.merge import merge_strictest

__all__ = ["APPROVE_ANNOTATION", "REJECT_ANNOTATION", "Controller", "LeaseConfig", "LeaseElector", "OperatorConfig",
           "applicable", "applies", "merge_strictest"]
