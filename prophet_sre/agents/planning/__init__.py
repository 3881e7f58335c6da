"""planning: the planner's built-in rules, one module per group of diagnosis categories.

Role: turn a `Diagnosis` into concrete, typed `Action`s computed from the live cluster - the rollback
revision that was last good, the memory limit to set, the selector the Service's pods really carry -
each with the `Check`s that prove it worked. `agents/planner.py` owns the public API (`plan`,
`candidates`) and the merging of runbooks and memory; this package only knows how an SRE fixes each
kind of problem.

Modules: `context` (what a rule gets: the diagnosis, findings, the client, cached reads, and the
`Proposal` a rule returns), `checks` (verification checks in the scenario forms), `history` (rollout
revisions and "the last good one"), `workloads` (oom, crashloop, image_pull, bad_rollout, probe_misconfig,
unschedulable), `objects_rules` (service_selector, pvc_pending, config_missing), `capacity`
(resource_exhaustion, quota, node_failure), `fleet_net` (network_threat, cluster_degraded), `rules`
(the category table and escalations). Limits: reads only; nothing here writes to a cluster.
"""
