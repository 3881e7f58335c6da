"""`TriggerWatch`: when Prophet opens an incident, for `prophet run` and the operator alike.

One watch per (policy trigger, cluster). Each `poll()` reads the cluster's clock once, collects the
evidence of the trigger type once (`collect.py`: one analysis per poll, whatever the cluster's size),
keeps what the policy lets it see, and turns it into `Trigger`s:

1. Scope: only `spec.namespaces` when given (cluster-scoped objects such as Nodes only when every
   namespace is watched), never the forbidden namespaces - neither the object's nor its workload's;
   with a `selector`, only objects the API server matches, or whose owning workload it matches (the
   server evaluates the selector, exactly as `kubectl get -l` does). INFO findings never open incidents.
2. Grouping: every finding is attributed to a target - the workload it points at (a Pod's owning
   Deployment, a MachineDeployment's Cluster, the one workload whose pods a Service lists as not ready),
   else the object itself - and the findings about one
   target become one Trigger, strongest first, with a one-line `reason` from the strongest. Supporting
   evidence (`SUPPORTING_ONLY`: Hubble's new connection paths) rides along but never opens one alone.
3. De-duplication on the cluster's clock: a watch records each target when it opens its incident. A later
   group about the same target within `dedup_window_s` is the same incident, not a new one, whatever
   its findings: one failure shows up through several sources in turn (the kubelet's OOMKilled first,
   Prometheus' memory and restart scores a scrape later), and an SRE wants one page for it, as
   Alertmanager's `group_by` gives. The reason keys (the analyzer or signal: `restarts`, `Pod`,
   `FailedScheduling`, `eastwest.fanout`) are in the Trigger's details. Sightings do not extend the
   window: a problem that lasts past it may open a new incident, as a reminder.
4. `schedule` triggers are health sweeps: the cron expression (UTC) is evaluated on the cluster's
   clock, the first poll only sets the starting point, and each later poll fires at most once when one
   or more due times have passed since the previous poll (how many is in the details).

Failures never escape `poll()`: a source that cannot run is logged and skipped, and `last_notes` says
why (so does a source that fell back, e.g. no Prometheus -> kube-derived signals, which is also noted
on each Trigger's `details`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from prophet_sre import cron
from prophet_sre.config import Settings
from prophet_sre.domain import Finding, ResourceRef, Severity
from prophet_sre.errors import ConfigError, ProphetError
from prophet_sre.graphs.state import Trigger
from prophet_sre.policy.spec import TriggerSpec
from prophet_sre.tools.analyze import Scope
from prophet_sre.tools.kube import objects as o
from prophet_sre.tools.kube.client import KubeClient, KubeClients
from prophet_sre.triggers import collect
from prophet_sre.triggers import selector as sel

log = logging.getLogger(__name__)

MAX_TRIGGERS = 20
"""Triggers one poll returns; the rest stay unrecorded and come back on the next poll."""
MAX_FINDINGS = 10
"""Findings one Trigger carries (strongest first); `details.findings_total` has the full count."""
REASON_CHARS = 240
SUPPORTING_ONLY = frozenset({"eastwest.new_edge"})
"""Findings that never open an incident alone, only back one another finding about the same target opens:
a workload talking to a peer it did not talk to in the baseline is what every deploy, cron job and
DNS cache expiry looks like."""
SELECTOR_KINDS = {"pods": "pod", "deployments": "deployment", "statefulsets": "statefulset",
                  "daemonsets": "daemonset", "replicasets": "replicaset", "jobs": "job", "services": "service"}
"""Kinds listed with the trigger's selector: an object matches, or its owning workload does."""
_RANK = {Severity.CRITICAL: 3, Severity.ERROR: 2, Severity.WARNING: 1, Severity.INFO: 0}
_LABEL = {"k8sgpt": "K8sGPT finding", "analyzers": "analyzer finding", "hubble": "Hubble east-west anomaly",
          "events": "Warning event", "kube-derived": "kube-derived signal"}


def reason_key(f: Finding) -> str:
    """What a finding is about, stably across polls: its analyzer, signal or event reason."""
    return f.analyzer or f.source.value


def target_of(f: Finding) -> ResourceRef:
    """The workload the evidence points at: the finding's parent (owning workload), the workload behind a
    Service's not-ready endpoints, else the object."""
    if f.parent is not None:
        return f.parent
    backing = f.evidence.get("backing_workload")  # a Service whose not-ready pods are one workload's
    if isinstance(backing, str) and "/" in backing:
        kind, _, name = backing.partition("/")
        return ResourceRef(cluster=f.ref.cluster, kind=kind, namespace=f.ref.namespace, name=name)
    if f.ref.kind == "Pod":
        from prophet_sre.tools.signals import workload_of_pod

        return workload_of_pod(f.ref.namespace, f.ref.name)
    return f.ref


def _strength(f: Finding) -> tuple[int, float]:
    score = f.evidence.get("score")
    return _RANK.get(f.severity, 0), float(score) if isinstance(score, int | float) else 0.0


class TriggerWatch:
    """Polls one cluster for what `spec` says should open an incident (see the module docstring)."""

    def __init__(self, spec: TriggerSpec, clients: KubeClients, settings: Settings, *,
                 forbidden_namespaces: Sequence[str] = (), dedup_window_s: float = 600, cluster: str = "",
                 first_lookback_s: float = 300.0, windows: Any = None, eastwest: Any = None) -> None:
        """`cluster`: the kubeconfig context (`ResourceRef.cluster`) to watch, "" the default one.
        `first_lookback_s`: how far back (cluster clock) the first poll of an `event` trigger reads.
        `windows` / `eastwest`: the anomaly detector's `signals.Windows` and the east-west detectors'
        `eastwest.EastWestConfig` (defaults suit real clusters; tests on a fast simulator shrink them)."""
        if dedup_window_s < 0:
            raise ConfigError(f"dedup_window_s must be >= 0 seconds, got {dedup_window_s}")
        if first_lookback_s < 0:
            raise ConfigError(f"first_lookback_s must be >= 0 seconds, got {first_lookback_s}")
        self.spec = spec
        self.clients = clients
        self.settings = settings
        self.cluster = cluster
        self.dedup_window = timedelta(seconds=dedup_window_s)
        self.first_lookback = timedelta(seconds=first_lookback_s)
        self.forbidden = frozenset(forbidden_namespaces)
        self.init_notes: list[str] = []
        watched = list(dict.fromkeys(spec.namespaces))
        dropped = [n for n in watched if n in self.forbidden]
        self.namespaces = [n for n in watched if n not in self.forbidden]
        if watched and not self.namespaces:
            raise ConfigError(f"trigger.namespaces {watched} are all forbidden namespaces: nothing to watch "
                              "(remove them from constraints.forbiddenNamespaces or watch others)")
        if dropped:
            self.init_notes.append(f"not watching forbidden namespace(s) {', '.join(dropped)}")
        self.selector = sel.parse(spec.selector)
        self.schedule: cron.Schedule | None = None
        if spec.type == "schedule":
            try:
                self.schedule = cron.parse(spec.schedule)
            except cron.CronError as e:
                raise ConfigError(f"trigger.schedule {spec.schedule!r}: {e} (five fields: minute hour "
                                  "day-of-month month day-of-week, e.g. '*/15 * * * *')") from e
        if spec.type == "hubble":
            bad = [v for v in spec.verdicts if v.upper() not in collect.HUBBLE_VERDICTS]
            if bad:
                raise ConfigError(f"trigger.verdicts: unknown flow verdict(s) {bad}; Hubble's are "
                                  f"{', '.join(collect.HUBBLE_VERDICTS)}")
        self._windows = windows
        self._eastwest = eastwest
        self._client: KubeClient | None = None
        self._collector: Any = None
        self._now: datetime | None = None
        self._last_poll: datetime | None = None
        self._opened: dict[str, datetime] = {}
        """When each target's incident was opened (this watch's trigger type), for de-duplication."""
        self.last_notes: list[str] = list(self.init_notes)
        """Why the latest poll saw less than it should have: a source down, a fallback used, limits hit."""

    # -- plumbing ----------------------------------------------------------------------------------------
    @property
    def client(self) -> KubeClient:
        if self._client is None:
            self._client = self.clients.for_cluster(self.cluster)
        return self._client

    def _cluster_now(self) -> datetime:
        if self._now is None:
            raise RuntimeError("the cluster's clock is read at the start of poll()")
        return self._now

    def _make_collector(self) -> Any:
        t = self.spec.type
        if t == "anomaly":
            return collect.AnomalyCollector(self.client, self.settings, self.spec.anomaly_score_threshold,
                                            windows=self._windows)
        if t == "k8sgpt":
            return collect.K8sGPTCollector(self.client, self.settings)
        if t == "hubble":
            return collect.HubbleCollector(self.settings, self.spec.verdicts, self._cluster_now, config=self._eastwest,
                                           client=self.client)
        return collect.EventCollector(self.client, self.spec.event_reasons)

    def close(self) -> None:
        """Release the connections the sources hold (a Hubble channel)."""
        if self._collector is not None and hasattr(self._collector, "close"):
            self._collector.close()

    @property
    def scope(self) -> Scope:
        """What the sources are asked about: the one watched namespace, else all (filtered afterwards)."""
        return Scope(self.namespaces[0] if len(self.namespaces) == 1 else None)

    # -- poll --------------------------------------------------------------------------------------------
    def poll(self) -> list[Trigger]:
        """New incidents since the last poll (see the module docstring); never raises for a source's failure."""
        notes: list[str] = []
        try:
            now = self.client.cluster_now()
        except ProphetError as e:
            log.warning("trigger %s: cannot reach the cluster: %s", self.spec.type, e)
            self.last_notes = [f"cluster {self.cluster or '(default)'}: {e}"]
            return []
        self._now = now
        try:
            if self.schedule is not None:
                triggers = self._scheduled(now, notes)
            else:
                triggers = self._evidence(now, notes)
            # only a poll that ran moves the mark: events after a failed poll are read by the next one
            self._last_poll = max(now, self._last_poll) if self._last_poll else now
        except Exception as e:  # noqa: BLE001 - a source's failure (or bug) is a note, never the caller's crash
            if isinstance(e, ProphetError):
                log.warning("trigger %s: source failed: %s", self.spec.type, e)
            else:
                log.exception("trigger %s: source failed", self.spec.type)
            notes.append(f"{self.spec.type}: skipped this poll: {type(e).__name__}: {e}")
            triggers = []
        self.last_notes = self.init_notes + notes
        return triggers

    def _collect(self, now: datetime) -> collect.Collected:
        if self._collector is None:
            self._collector = self._make_collector()
        if self.spec.type == "event":
            since = self._last_poll if self._last_poll is not None else now - self.first_lookback
            return self._collector.collect(self.scope, now, since)  # type: ignore[no-any-return]
        return self._collector.collect(self.scope, now)  # type: ignore[no-any-return]

    def _evidence(self, now: datetime, notes: list[str]) -> list[Trigger]:
        got = self._collect(now)
        notes += got.notes
        findings = [f for f in got.findings if f.severity != Severity.INFO and self._in_scope(f)]
        if self.selector and findings:
            matched = self._selected(notes)
            findings = [f for f in findings if matched is not None and self._selected_finding(f, matched)]
        groups: dict[ResourceRef, list[Finding]] = {}
        for f in findings:
            target = target_of(f)
            if self.cluster and not target.cluster:
                target = target.model_copy(update={"cluster": self.cluster})
            groups.setdefault(target, []).append(f)
        ordered = sorted(groups.items(), key=lambda kv: (tuple(-x for x in _strength(max(kv[1], key=_strength))),
                                                          str(kv[0])))
        self._forget(now)
        out: list[Trigger] = []
        for i, (target, group) in enumerate(ordered):
            group.sort(key=_strength, reverse=True)
            keys = list(dict.fromkeys(reason_key(f) for f in group))
            if set(keys) <= SUPPORTING_ONLY:
                continue
            if str(target) in self._opened:
                continue
            if len(out) >= MAX_TRIGGERS:
                notes.append(f"up to {len(ordered) - i} more targets with findings (limit {MAX_TRIGGERS} per "
                             "poll); they are reported on the next polls")
                break
            self._opened[str(target)] = now
            out.append(self._trigger(target, group, keys, got, now))
        return out

    def _forget(self, now: datetime) -> None:
        """Drop de-dup records older than the window (the cluster's clock; a clock jump back keeps them)."""
        self._opened = {k: t for k, t in self._opened.items() if now - t < self.dedup_window}

    # -- scope and selector ------------------------------------------------------------------------------
    def _namespace_ok(self, namespace: str) -> bool:
        if namespace in self.forbidden:
            return False
        if not namespace:
            return not self.namespaces
        return not self.namespaces or namespace in self.namespaces

    def _in_scope(self, f: Finding) -> bool:
        refs = [f.ref, target_of(f)] + ([f.parent] if f.parent else [])
        return all(self._namespace_ok(r.namespace) for r in refs)

    def _selected(self, notes: list[str]) -> set[tuple[str, str, str]] | None:
        """(kind, namespace, name) of every object the selector matches, and the workloads of matched pods;
        None when the server would not evaluate it (then nothing is selected: a selector only narrows)."""
        matched: set[tuple[str, str, str]] = set()
        for kind, singular in SELECTOR_KINDS.items():
            try:
                items = self.client.list(kind, self.scope.namespace, label_selector=self.spec.selector)
            except ProphetError as e:
                notes.append(f"selector {self.spec.selector!r}: cannot list {kind}: {e}; no findings selected")
                return None
            for obj in items:
                matched.add((singular, o.namespace(obj), o.name(obj)))
                if kind == "pods":
                    wk, wn = o.workload_of(obj)
                    matched.add((wk.lower(), o.namespace(obj), wn))
        return matched

    def _selected_finding(self, f: Finding, matched: set[tuple[str, str, str]]) -> bool:
        refs = [f.ref, target_of(f)] + ([f.parent] if f.parent else [])
        return any((r.kind.lower(), r.namespace, r.name) in matched for r in refs)

    # -- building triggers -------------------------------------------------------------------------------
    def _trigger(self, target: ResourceRef, group: list[Finding], keys: list[str], got: collect.Collected,
                 now: datetime) -> Trigger:
        main = group[0]
        text = " ".join((main.errors[0] if main.errors else reason_key(main)).split())
        score = main.evidence.get("score")
        if got.via == "prometheus" and isinstance(score, int | float):
            head = f"anomaly score {score:.2f} on {target} ({reason_key(main)})"
        else:
            head = f"{_LABEL.get(got.via, got.via or self.spec.type)} on {target}"
        more = f" (+{len(group) - 1} more finding{'s' if len(group) > 2 else ''})" if len(group) > 1 else ""
        reason = f"{head}: {text}"
        if len(reason) + len(more) > REASON_CHARS:
            reason = reason[: REASON_CHARS - len(more) - 3].rstrip() + "..."
        details: dict[str, Any] = {"source": got.via, "reason_key": reason_key(main), "reason_keys": keys,
                                   "findings_total": len(group), "cluster_time": now.isoformat()}
        if got.note:
            details["note"] = got.note
        if isinstance(score, int | float):
            details["score"] = float(score)
        if self.spec.type == "hubble" and self.spec.verdicts:
            details["verdicts"] = [v.upper() for v in self.spec.verdicts]
        if self.spec.type == "event":
            details["event_reasons"] = list(self.spec.event_reasons) or ["(all Warning events)"]
        return Trigger(type=self.spec.type, reason=reason + more, namespace=target.namespace or None, target=target,
                       findings=group[:MAX_FINDINGS], details=details)

    def _scheduled(self, now: datetime, notes: list[str]) -> list[Trigger]:
        assert self.schedule is not None
        last = self._last_poll
        if last is None:  # the first poll only starts the clock: a sweep is due at the next activation
            nxt = self.schedule.next(now)
            notes.append(f"schedule {self.spec.schedule!r}: first sweep due at "
                                   f"{nxt.isoformat() if nxt else 'never'} (cluster clock, UTC)")
            return []
        due, count = self.schedule.most_recent(last, now)
        if due is None:
            return []
        where = self.namespaces[0] if len(self.namespaces) == 1 else None
        return [Trigger(type="schedule", reason=f"scheduled health sweep ({self.spec.schedule}) due at "
                                                f"{due.isoformat()}", namespace=where,
                        details={"schedule": self.spec.schedule, "due": due.isoformat(), "missed": max(0, count - 1),
                                 "cluster_time": now.isoformat(), "namespaces": self.namespaces or ["(all)"],
                                 "forbidden_namespaces": sorted(self.forbidden), "selector": self.spec.selector})]


__all__ = ["MAX_FINDINGS", "MAX_TRIGGERS", "SELECTOR_KINDS", "SUPPORTING_ONLY", "TriggerWatch", "reason_key", "target_of"]
