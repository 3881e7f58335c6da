"""The kube read tools against the simulator over real HTTPS, on the broken world of `kube_world`.

Covers, per tool: the facts a responder needs are in `text` (reasons, messages, counts, owners), `data`
is typed, the text stays within the token budget, and when something is left out `omitted` holds a
call that - made as written - returns the rest. Errors come back as envelopes (NotFound for an unknown
kind or object). Not covered: error mapping and retries (test_kube_client), budget arithmetic
(test_kube_budget).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from kube_world import PULL_REASONS, World, eventually, world

from prophet_sre.config import ToolSettings
from prophet_sre.tools.budget import Budget
from prophet_sre.tools.envelope import ToolStatus
from prophet_sre.tools.kube import KubeClient, KubeReads
from prophet_sre.tools.kube.summary import ClusterSummary
from prophet_sre.tools.kube.usage import PodUsage

NS = "tools-world"


@pytest.fixture(scope="module")
def w(sim_kubeconfig: Path) -> World:
    return world(sim_kubeconfig)


@pytest.fixture(scope="module")
def client(w: World) -> Iterator[KubeClient]:
    c = KubeClient.from_kubeconfig(w.kubeconfig)
    yield c
    c.close()


@pytest.fixture(scope="module")
def reads(client: KubeClient) -> KubeReads:
    return KubeReads(client)


def tiny(client: KubeClient, tokens: int = 200) -> KubeReads:
    reads = KubeReads(client, settings=ToolSettings(token_budget=200))
    reads.budget = Budget(tokens)  # below the settings' floor, to force shortening on a small cluster
    return reads


def replay(reads: KubeReads, omitted: str) -> Any:
    """Make the call an `omitted` hint names, exactly as written (`tool(k=v, ...)`)."""
    m = re.search(r"call (\w+)\((.*)\)", omitted)
    assert m, omitted
    tool, args = m.group(1), m.group(2)
    return eval(f"reads.{tool}({args})", {"reads": reads})  # noqa: S307 - our own hint, in a test


def test_cluster_summary_names_what_is_broken(reads: KubeReads, w: World) -> None:
    def summarized() -> Any:
        r = reads.cluster_summary()
        line = next(x for x in r.text.splitlines() if x.strip().startswith(f"{NS}:"))
        for reason in ("CrashLoopBackOff", "Unschedulable"):
            assert reason in line
        assert any(f"{NS}/deployment/badimg: 1 pods ({reason} 1)" in r.text for reason in PULL_REASONS)
        return r

    r = eventually(summarized)
    assert r.status == ToolStatus.OK and isinstance(r.data, ClusterSummary)
    assert r.tokens <= 2000 and not r.truncated
    assert f"{NS}/pod/stuck" in r.text and "ProvisioningFailed" in r.text
    assert re.search(r"Nodes: \d/3 Ready", r.text)
    ns = next(n for n in r.data.unhealthy_namespaces if n.namespace == NS)
    assert ns.unhealthy == 3 and ns.reasons["CrashLoopBackOff"] == 1


def test_cluster_summary_shortens_to_a_small_budget_and_says_how(client: KubeClient) -> None:
    r = tiny(client, 80).cluster_summary()
    assert r.tokens <= 80 and r.truncated and "call " in r.omitted


def test_list_pages_and_the_omitted_call_returns_the_rest(reads: KubeReads) -> None:
    full = reads.list("po", NS)
    assert full.ok and "Pending" in full.text.split() and any(r in full.text for r in PULL_REASONS)
    names = [row[0] for row in full.data.rows]
    page = reads.list("pods", namespace=NS, limit=2)
    assert page.truncated and page.omitted.startswith(f"{len(names) - 2} more pods; call list(")
    assert "offset=2" in page.omitted and len(page.data.rows) == 2
    seen = [r[0] for r in page.data.rows]
    while page.omitted:  # follow the hints, page by page, to the end
        page = replay(reads, page.omitted)
        assert len(page.data.rows) <= 2
        seen += [r[0] for r in page.data.rows]
    assert seen == names


def test_list_fits_rows_to_the_budget(client: KubeClient, reads: KubeReads) -> None:
    r = tiny(client).list("pods")
    assert r.tokens <= 200 and r.truncated
    shown = len(r.data.rows)
    assert f"offset={shown}" in r.omitted and r.data.total > shown
    assert replay(tiny(client), r.omitted).data.offset == shown


def test_list_columns_all_namespaces_and_errors(reads: KubeReads) -> None:
    r = reads.list("pods", NS, columns=["name", "spec.nodeSelector", "status.phase"])
    assert r.data.columns == ["NAME", "NODESELECTOR", "PHASE"]
    assert ["stuck", "disk=ssd", "Pending"] in r.data.rows
    assert reads.list("deployments.apps").data.columns[0] == "NAMESPACE"
    bad = reads.list("widgetz")
    assert bad.status == ToolStatus.ERROR and bad.error_type == "NotFound"
    wrong = reads.list("pods", NS, selector="=oops")
    assert wrong.error_type == "InvalidQuery" and "found '='" in wrong.error  # the server's words, to fix it


def test_describe_pod_shows_container_state_owner_chain_and_events(reads: KubeReads, w: World) -> None:
    def described() -> Any:
        r = reads.describe(f"{NS}/pod/{w.pod('crash')}")
        assert "waiting CrashLoopBackOff: back-off" in r.text and "last terminated Error exit=1" in r.text
        return r

    r = eventually(described)
    assert r.ok and r.tokens <= 2000
    assert re.search(r"owned by ReplicaSet/crash-\w+ -> Deployment/crash", r.text)
    assert "BackOff" in r.text and r.data.owners[-1].name == "crash"
    stuck = reads.describe("pod/stuck", namespace=NS)
    assert "nodeSelector: disk=ssd" in stuck.text and "PodScheduled=False (Unschedulable: 0/3 nodes" in stuck.text
    assert "FailedScheduling" in stuck.text


def test_describe_other_kinds_and_missing_objects(reads: KubeReads) -> None:
    assert "endpoints: 0 ready" in reads.describe(f"{NS}/svc/orphan").text
    pvc = reads.describe(f"{NS}/pvc/data")
    assert "storageClass fast" in pvc.text and 'storageclass.storage.k8s.io "fast" not found' in pvc.text
    dep = reads.describe(f"{NS}/deploy/web")
    assert "images: nginx:1.28" in dep.text and "revision 2" in dep.text
    assert "Ready=True" in reads.describe("/node/worker-1").text
    missing = reads.describe(f"{NS}/pod/nope")
    assert missing.error_type == "NotFound" and 'pods "nope" not found' in missing.error


def test_events_are_deduplicated_newest_first_and_filterable(client: KubeClient, reads: KubeReads) -> None:
    r = reads.events(namespace=NS, types=["Warning"])
    assert r.ok and all(g.type == "Warning" for g in r.data)
    assert len({(g.reason, g.message) for g in r.data}) == len(r.data)
    assert any(g.reason == "ProvisioningFailed" and g.count >= 1 for g in r.data)
    lasts = [g.last for g in r.data]
    assert lasts == sorted(lasts, reverse=True)
    assert "(x" in reads.events(namespace=NS).text  # repeated events are counted, not repeated
    one = reads.events(ref=f"{NS}/pvc/data")
    assert {g.reason for g in one.data} == {"ProvisioningFailed"}
    assert reads.events(namespace=NS, reasons=["NoSuchReason"]).status == ToolStatus.NO_DATA
    small = tiny(client).events(namespace=NS)
    assert small.tokens <= 200 and "offset=" in small.omitted
    assert replay(tiny(client), small.omitted).data


def test_logs_previous_grep_and_skip(client: KubeClient, reads: KubeReads, w: World) -> None:
    pod = f"{NS}/{w.pod('crash')}"
    r = reads.logs(pod, previous=True)
    assert r.ok and r.data.lines[-1] == "error: boom" and r.data.container == "main"
    g = reads.logs(pod, grep="BOOM", previous=True)
    assert g.data.lines == ["error: boom"]
    s = reads.logs(pod, previous=True, tail=1, skip=1)
    assert s.data.lines == ["starting"]
    none = reads.logs(pod, grep="no-such-line", previous=True)
    assert none.status == ToolStatus.NO_DATA
    waiting = reads.logs(f"{NS}/{w.pod('badimg')}")
    assert waiting.status == ToolStatus.ERROR and "waiting to start" in waiting.error


def test_rollout_history_marks_the_current_revision(reads: KubeReads) -> None:
    r = reads.rollout_history(f"{NS}/web")
    assert r.ok and [rev.revision for rev in r.data] == [2, 1]
    assert r.data[0].current and r.data[0].images == ["nginx:1.28"] and r.data[1].images == ["nginx:1.27"]
    assert "* revision 2" in r.text and "(current)" in r.text
    assert reads.rollout_history("web", namespace="nope").error_type == "NotFound"


class FakeUsage:
    def __init__(self, fail: bool = False) -> None:
        self.fail = fail

    def pod_usage(self, namespace: str) -> Mapping[str, PodUsage]:
        if self.fail:
            raise ConnectionError("prometheus is down")
        return {"stuck": PodUsage(cpu_m=1, memory_mi=2)}


def test_resource_usage_sums_requests_and_names_missing_ones(client: KubeClient, reads: KubeReads) -> None:
    r = reads.resource_usage(NS)
    web = next(x for x in r.data if x.name == "web")
    assert web.pods == 2 and web.cpu_request_m == 200 and web.memory_limit_mi == 256
    assert "main: no requests" in next(x for x in r.data if x.name == "badimg").missing
    assert "live usage: unavailable" in r.text
    live = KubeReads(client, usage_source=FakeUsage()).resource_usage(NS)
    assert "using cpu 1m mem 2Mi" in live.text
    down = KubeReads(client, usage_source=FakeUsage(fail=True)).resource_usage(NS)
    assert down.ok and "prometheus is down" in down.text


def test_every_read_respects_the_budget(client: KubeClient, w: World) -> None:
    small = tiny(client)
    for r in (small.cluster_summary(), small.list("events"), small.describe(f"{NS}/pod/stuck"),
              small.events(), small.logs(f"{NS}/{w.pod('crash')}", previous=True),
              small.rollout_history(f"{NS}/web"), small.resource_usage(NS)):
        assert r.tokens <= 200, (r.invocation, r.tokens)
        assert r.truncated == bool(r.omitted), r.invocation
