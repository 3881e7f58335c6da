"""actions: every `domain.Action` variant as code that renders, dry-runs, executes and inverts itself.

Role: `prepare(action, kube)` gives a `PreparedAction` whose `render()` says what will change and the
exact requests, `dry_run()` asks the API server (`dryRun=All`) and returns a bounded diff, `execute()`
writes (re-reading and retrying on 409 Conflict) and returns what changed plus the "before" snapshot,
and `inverse(before)` is the `Action` that undoes it (None, with the reason in `reversibility()`, when
nothing can). `blast_radius(action, kube)` counts the pods, replicas, nodes and namespaces touched.

Limits: no policy decisions here - the critic decides whether an action may run, this package only
carries it out faithfully (kubectl's semantics wherever kubectl has the operation). All API access goes
through `tools.kube.KubeClient`, so failures are `prophet_sre.errors` classes; results of `dry_run()` and
`execute()` carry them as `error_type` instead of raising. Never imports the simulator.

Modules: `base` (requests, the shared write loop), `results`, `diff`, `workload` (restart, rollback,
set_resources, delete_pod), `scaling` (scale, adjust_hpa), `generic` (patch, recreate), `node`
(cordon, uncordon), `drain`, `network` (quarantine), `fleet` (scale_nodes, failover), `escalate`,
`prepare` (the variant table).
"""

from prophet_sre.tools.actions.base import ActionSettings, PreparedAction, Request
from prophet_sre.tools.actions.prepare import blast_radius, prepare
from prophet_sre.tools.actions.results import BlastRadius, DryRunResult, ExecutionResult

__all__ = [
    "ActionSettings", "BlastRadius", "DryRunResult", "ExecutionResult", "PreparedAction", "Request",
    "blast_radius", "prepare",
]
