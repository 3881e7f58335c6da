"""Each classic pod fault through the kubelet on the in-process harness: statuses and events, exactly.

Covers: pull failures and their back-off, StartError -> RunContainerError -> CrashLoopBackOff, a script
exiting non-zero, OOM kills with the kernel's node event, readiness 404 (out of Endpoints), liveness
failures (refused port, exec docs example) and restarts, missing ConfigMap/Secret/key in env
(CreateContainerConfigError) and volumes (FailedMount), and recovery when the object appears.
Skips kubectl (tests/integration/test_behaviour_kubectl.py).
"""

from __future__ import annotations

import re
from typing import Any

from prophet_sre.sim.clock import parse_time

Obj = dict[str, Any]


def make(h: Any, name: str, image: str, **container: Any) -> Obj:
    pod = h.pod(name, image=image)
    pod["spec"]["containers"][0].update(container)
    return h.create(pod)


def status(h: Any, name: str) -> Obj:
    return h.get("Pod", "default", name)["status"]["containerStatuses"][0]


def events(h: Any, name: str, reason: str) -> list[Obj]:
    return sorted(h.events_for(name, reason), key=lambda e: e["firstTimestamp"])


def messages(h: Any, name: str, reason: str) -> list[str]:
    return [e["message"] for e in events(h, name, reason)]


def test_unknown_tag_err_image_pull_then_back_off(cluster: Any) -> None:
    h = cluster
    make(h, "web", "nginx:nope")
    err = ('rpc error: code = NotFound desc = failed to pull and unpack image "docker.io/library/nginx:nope": '
           'failed to resolve reference "docker.io/library/nginx:nope": docker.io/library/nginx:nope: not found')
    assert h.settle(lambda: status(h, "web")["state"].get("waiting", {}).get("reason") == "ErrImagePull", max_s=5,
                    step=0.1)
    assert status(h, "web")["state"]["waiting"]["message"] == err
    assert messages(h, "web", "Failed") == [f'Failed to pull image "nginx:nope": {err}', "Error: ErrImagePull"]
    h.run_for(2)
    w = status(h, "web")["state"]["waiting"]
    assert w == {"reason": "ImagePullBackOff", "message": f'Back-off pulling image "nginx:nope": ErrImagePull: {err}'}
    [backoff] = events(h, "web", "BackOff")
    assert (backoff["type"], backoff["message"]) == ("Normal", 'Back-off pulling image "nginx:nope"')
    assert "Error: ImagePullBackOff" in messages(h, "web", "Failed")
    seen = set()
    for _ in range(120):  # retries keep the last reason up (a real `kubectl get pods -w` never shows
        h.run_for(0.5, step=0.1)  # ContainerCreating again): alternating ErrImagePull / ImagePullBackOff
        seen.add(status(h, "web")["state"]["waiting"]["reason"])
    assert seen == {"ErrImagePull", "ImagePullBackOff"}
    pulls = events(h, "web", "Pulling")[0]["count"]
    assert 3 <= pulls <= 4  # 10s, 20s, 40s back-off between pulls
    p = h.get("Pod", "default", "web")
    assert p["status"]["phase"] == "Pending" and status(h, "web")["imageID"] == ""


def test_unknown_repository_and_image_missing_knob(cluster: Any) -> None:
    from prophet_sre.sim.knobs import Knobs

    h = cluster
    make(h, "ghost", "myorg/ghost:1.0")
    h.run_for(3)
    assert "pull access denied, repository does not exist or may require authorization" in \
        status(h, "ghost")["state"]["waiting"]["message"]
    knobs = h.ctx.extras["knobs"] = Knobs()
    eff = knobs.add("image_missing", "shop/backend:2.3")
    make(h, "b", "shop/backend:2.3")
    h.run_for(3)
    assert "docker.io/shop/backend:2.3: not found" in status(h, "b")["state"]["waiting"]["message"]
    knobs.remove(eff.id)
    h.run_for(30)
    assert status(h, "b")["ready"]


def test_missing_binary_start_error_crash_loop(cluster: Any) -> None:
    h = cluster
    p = make(h, "bad", "busybox:1.36", command=["nonexistent-binary"])
    why = 'exec: "nonexistent-binary": executable file not found in $PATH'
    msg = ("failed to create containerd task: failed to create shim task: OCI runtime create failed: runc create "
           f"failed: unable to start container process: error during container init: {why}: unknown")
    assert h.settle(lambda: "waiting" in status(h, "bad")["state"]
                    and status(h, "bad")["state"]["waiting"]["reason"] == "RunContainerError", max_s=5, step=0.1)
    assert status(h, "bad")["state"]["waiting"]["message"] == msg
    h.run_for(40)
    cs = status(h, "bad")
    uid = p["metadata"]["uid"]
    assert cs["state"]["waiting"]["reason"] == "CrashLoopBackOff"
    assert re.fullmatch(rf"back-off (10|20|40)s restarting failed container=web pod=bad_default\({uid}\)",
                        cs["state"]["waiting"]["message"])
    last = cs["lastState"]["terminated"]
    assert (last["reason"], last["exitCode"], last["message"], last["startedAt"]) == \
        ("StartError", 128, msg, "1970-01-01T00:00:00Z")
    assert cs["restartCount"] >= 2 and not cs["started"]
    failed = events(h, "bad", "Failed")[0]
    assert failed["message"] == f"Error: {msg}" and failed["count"] >= 3
    assert messages(h, "bad", "BackOff") == [f"Back-off restarting failed container web in pod bad_default({uid})"]
    assert h.logs.read("default", "bad", "web", previous=True) == [why]


def test_script_exit_code_is_an_error_with_its_logs(cluster: Any) -> None:
    h = cluster
    make(h, "job", "busybox:1.36", command=["sh", "-c", "echo connecting; sleep 2; echo giving up; exit 3"])
    h.run_for(12)
    cs = status(h, "job")
    t = cs["lastState"]["terminated"]
    assert (t["reason"], t["exitCode"]) == ("Error", 3)
    assert (parse_time(t["finishedAt"]) - parse_time(t["startedAt"])).total_seconds() in (2.0, 3.0)
    assert h.logs.read("default", "job", "web", previous=True) == ["connecting", "giving up"]


def test_leak_is_oom_killed_with_the_kernel_line_on_the_node(cluster: Any) -> None:
    h = cluster
    make(h, "leak", "shop/backend:2.3", resources={"limits": {"memory": "256Mi"}, "requests": {"memory": "128Mi"}})
    h.run_for(35)
    cs = status(h, "leak")
    t = cs["lastState"]["terminated"]
    assert (t["reason"], t["exitCode"]) == ("OOMKilled", 137) and cs["restartCount"] == 1
    ran = (parse_time(t["finishedAt"]) - parse_time(t["startedAt"])).total_seconds()
    assert 25 <= ran <= 30  # (256 - 120) Mi at 300 Mi/min
    node = h.get("Pod", "default", "leak")["spec"]["nodeName"]
    [oom] = [e for e in h.list("Event") if e["reason"] == "OOMKilling"]
    assert oom["involvedObject"]["kind"] == "Node" and oom["involvedObject"]["name"] == node
    assert oom["type"] == "Warning" and oom["source"] == {"component": "kernel-monitor", "host": node}
    assert re.fullmatch(r"Memory cgroup out of memory: Killed process \d+ \(backend\) total-vm:\d+kB, "
                        r"anon-rss:\d+kB, file-rss:\d+kB, shmem-rss:0kB, UID:0 pgtables:\d+kB oom_score_adj:99\d",
                        oom["message"])
    prev = h.logs.read("default", "leak", "web", previous=True)
    assert prev[0].endswith('msg="starting shop backend" version=2.3.0')
    assert any("level=error" in x and "GC failed to reclaim memory" in x and "version=2.3.0" in x for x in prev)
    assert h.settle(lambda: status(h, "leak")["state"].get("waiting", {}).get("reason") == "CrashLoopBackOff",
                    max_s=40)


def test_readiness_404_keeps_the_pod_out_of_endpoints(cluster: Any) -> None:
    h = cluster
    h.create(h.service("web"))
    make(h, "web", "nginx:1.27", ports=[{"name": "http", "containerPort": 80, "protocol": "TCP"}],
         readinessProbe={"httpGet": {"path": "/healthz", "port": 80}, "periodSeconds": 5, "failureThreshold": 3})
    h.run_for(30)
    cs = status(h, "web")
    assert cs["started"] and not cs["ready"] and "running" in cs["state"]
    [ev] = events(h, "web", "Unhealthy")
    assert ev["message"] == "Readiness probe failed: HTTP probe failed with statuscode: 404" and ev["count"] >= 4
    assert ev["type"] == "Warning" and ev["involvedObject"]["fieldPath"] == "spec.containers{web}"
    [subset] = h.get("Endpoints", "default", "web")["subsets"]
    assert "addresses" not in subset and len(subset["notReadyAddresses"]) == 1
    ip = h.get("Pod", "default", "web")["status"]["podIP"]
    gw = ip.rsplit(".", 1)[0] + ".1"
    logs = h.logs.read("default", "web", "web")
    assert re.fullmatch(rf'{gw} - - \[\d\d/\w+/\d{{4}}:\d\d:\d\d:\d\d \+0000\] "GET /healthz HTTP/1.1" 404 153 "-" '
                        r'"kube-probe/1.33" "-"', logs[-1])
    assert re.search(rf'\[error\] 29#29: \*\d+ open\(\) "/usr/share/nginx/html/healthz" failed \(2: No such file or '
                     rf'directory\), client: {gw}, server: localhost, request: "GET /healthz HTTP/1.1", host: '
                     rf'"{ip}:80"', logs[-2])


def test_liveness_on_a_port_nothing_listens_on_restarts(cluster: Any) -> None:
    h = cluster
    make(h, "live", "nginx:1.27",
         livenessProbe={"httpGet": {"path": "/healthz", "port": 8081}, "periodSeconds": 5, "failureThreshold": 3})
    h.run_for(22)
    ip = h.get("Pod", "default", "live")["status"]["podIP"]
    [ev] = events(h, "live", "Unhealthy")
    assert ev["message"] == (f'Liveness probe failed: Get "http://{ip}:8081/healthz": dial tcp {ip}:8081: '
                             "connect: connection refused")
    assert messages(h, "live", "Killing") == ["Container web failed liveness probe, will be restarted"]
    cs = status(h, "live")
    assert cs["restartCount"] == 1
    assert (cs["lastState"]["terminated"]["reason"], cs["lastState"]["terminated"]["exitCode"]) == ("Completed", 0)
    assert h.logs.read("default", "live", "web", previous=True)[-1].endswith("[notice] 1#1: exit")


def test_exec_liveness_docs_example(cluster: Any) -> None:
    h = cluster
    make(h, "liveness-exec", "busybox:1.36",
         args=["/bin/sh", "-c", "touch /tmp/healthy; sleep 30; rm -f /tmp/healthy; sleep 600"],
         livenessProbe={"exec": {"command": ["cat", "/tmp/healthy"]}, "initialDelaySeconds": 5, "periodSeconds": 5})
    h.run_for(30)
    assert not events(h, "liveness-exec", "Unhealthy")
    h.run_for(20)
    [ev] = events(h, "liveness-exec", "Unhealthy")
    assert ev["message"] == "Liveness probe failed: cat: can't open '/tmp/healthy': No such file or directory"
    assert messages(h, "liveness-exec", "Killing") == ["Container liveness-exec failed liveness probe, will be restarted"
                                                       .replace("liveness-exec", "web", 1)]
    h.run_for(40)  # sh as PID 1 ignores SIGTERM: killed after the 30 s grace period
    cs = status(h, "liveness-exec")
    assert cs["restartCount"] == 1
    assert (cs["lastState"]["terminated"]["reason"], cs["lastState"]["terminated"]["exitCode"]) == ("Error", 137)


def test_env_references_create_container_config_error_and_recover(cluster: Any) -> None:
    h = cluster
    env = [{"name": "LOG_LEVEL", "valueFrom": {"configMapKeyRef": {"name": "app-config", "key": "LOG_LEVEL"}}},
           {"name": "PW", "valueFrom": {"secretKeyRef": {"name": "db", "key": "password"}}}]
    make(h, "app", "busybox:1.36", command=["sh", "-c", "echo level=$LOG_LEVEL; sleep 3600"], env=env)
    h.run_for(5)
    assert status(h, "app")["state"]["waiting"] == {"reason": "CreateContainerConfigError",
                                                    "message": 'configmap "app-config" not found'}
    assert messages(h, "app", "Failed") == ['Error: configmap "app-config" not found']
    h.create({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "app-config", "namespace": "default"},
              "data": {"OTHER": "1"}})
    h.run_for(16)
    assert status(h, "app")["state"]["waiting"]["message"] == \
        "couldn't find key LOG_LEVEL in ConfigMap default/app-config"
    h.patch("ConfigMap", "default", "app-config", lambda c: c["data"].update(LOG_LEVEL="debug"))
    h.run_for(16)
    assert status(h, "app")["state"]["waiting"]["message"] == 'secret "db" not found'
    h.create({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db", "namespace": "default"},
              "data": {"user": "YWRtaW4="}})
    h.run_for(16)
    assert status(h, "app")["state"]["waiting"]["message"] == "couldn't find key password in Secret default/db"
    h.patch("Secret", "default", "db", lambda s: s["data"].update(password="aHVudGVyMg=="))
    h.run_for(16)
    cs = status(h, "app")
    assert cs["ready"] and cs["restartCount"] == 0
    assert h.logs.read("default", "app", "web") == ["level=debug"]
    assert events(h, "app", "Pulled")[-1]["message"] == 'Container image "busybox:1.36" already present on machine'


def test_missing_volume_failed_mount_then_recovers(cluster: Any) -> None:
    h = cluster
    pod = h.pod("mnt")
    pod["spec"]["volumes"] = [{"name": "cfg", "configMap": {"name": "app-config"}},
                              {"name": "creds", "secret": {"secretName": "db-secret", "optional": True}}]
    pod["spec"]["containers"][0]["volumeMounts"] = [{"name": "cfg", "mountPath": "/etc/cfg"}]
    h.create(pod)
    h.run_for(10)
    p = h.get("Pod", "default", "mnt")
    assert p["status"]["phase"] == "Pending" and "podIP" not in p["status"]
    assert status(h, "mnt")["state"] == {"waiting": {"reason": "ContainerCreating"}}
    [ev] = events(h, "mnt", "FailedMount")
    assert ev["message"] == 'MountVolume.SetUp failed for volume "cfg" : configmap "app-config" not found'
    assert ev["type"] == "Warning" and "fieldPath" not in ev["involvedObject"] and ev["count"] >= 4
    h.run_for(120)
    msgs = messages(h, "mnt", "FailedMount")
    assert ("Unable to attach or mount volumes: unmounted volumes=[cfg], unattached volumes=[], failed to process "
            "volumes=[]: timed out waiting for the condition") in msgs
    h.create({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "app-config", "namespace": "default"},
              "data": {"a": "1"}})
    assert h.settle(lambda: status(h, "mnt")["ready"], max_s=130)


def test_bad_items_key_in_a_volume(cluster: Any) -> None:
    h = cluster
    h.create({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm", "namespace": "default"},
              "data": {"a": "1"}})
    pod = h.pod("items")
    pod["spec"]["volumes"] = [{"name": "cfg", "configMap": {"name": "cm", "items": [{"key": "b", "path": "b"}]}}]
    h.create(pod)
    h.run_for(5)
    assert messages(h, "items", "FailedMount") == [
        'MountVolume.SetUp failed for volume "cfg" : configmap references non-existent config key: b']


def test_postgres_without_password_crash_loops_with_its_real_message(cluster: Any) -> None:
    h = cluster
    make(h, "db", "postgres:16")
    h.run_for(25)
    cs = status(h, "db")
    assert cs["lastState"]["terminated"]["reason"] == "Error" and cs["lastState"]["terminated"]["exitCode"] == 1
    assert h.logs.read("default", "db", "web", previous=True)[0] == \
        "Error: Database is uninitialized and superuser password is not specified."
