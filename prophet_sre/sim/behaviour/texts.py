"""The exact texts a real node prints for each failure, in one place so they can be read side by side.

Agents and analyzers (K8sGPT copies waiting messages and event texts verbatim) key on these strings,
so each builder reproduces what containerd 2.x / runc 1.2 / kubelet 1.3x / the kernel write, including
their quoting. Nothing here decides *when* a failure happens - only how it reads.
"""

from __future__ import annotations

from prophet_sre.sim.controllers.common import hex_digest
from prophet_sre.sim.controllers.runtime import image_ref, split_image


# -- image pulls (containerd) -----------------------------------------------------------------------------
def pull_not_found(image: str) -> str:
    """A tag that does not exist in a repository that does."""
    ref = image_ref(image)
    return (f'rpc error: code = NotFound desc = failed to pull and unpack image "{ref}": '
            f'failed to resolve reference "{ref}": {ref}: not found')


def pull_access_denied(image: str) -> str:
    """A repository that does not exist (registries answer 401 for those, not 404)."""
    ref = image_ref(image)
    return (f'rpc error: code = Unknown desc = failed to pull and unpack image "{ref}": failed to resolve '
            f'reference "{ref}": pull access denied, repository does not exist or may require authorization: '
            f"server message: insufficient_scope: authorization failed")


def pull_no_such_host(image: str) -> str:
    """A registry host that does not resolve (a typo in the registry part of the reference)."""
    ref = image_ref(image)
    repo, tag = split_image(image)
    host, _, path = repo.partition("/")
    return (f'rpc error: code = Unknown desc = failed to pull and unpack image "{ref}": failed to resolve '
            f'reference "{ref}": failed to do request: Head "https://{host}/v2/{path}/manifests/{tag}": '
            f"dial tcp: lookup {host}: no such host")


# -- container start (containerd + runc) --------------------------------------------------------------------
def start_error(program: str) -> str:
    """The container's process cannot be executed: terminated reason StartError, exit code 128."""
    if "/" in program:
        why = f'exec: "{program}": stat {program}: no such file or directory'
    else:
        why = f'exec: "{program}": executable file not found in $PATH'
    return ("failed to create containerd task: failed to create shim task: OCI runtime create failed: runc create "
            f"failed: unable to start container process: error during container init: {why}: unknown")


def exec_error(program: str, seed: str) -> str:
    """An exec probe whose binary is not in the image."""
    why = (f'exec: "{program}": stat {program}: no such file or directory' if "/" in program
           else f'exec: "{program}": executable file not found in $PATH')
    return (f'rpc error: code = Unknown desc = failed to exec in container: failed to start exec '
            f'"{hex_digest("exec", seed)}": OCI runtime exec failed: exec failed: unable to start container '
            f"process: {why}: unknown")


def shell_not_found(flavour: str, shell: str, program: str) -> str:
    """What a shell prints for a command that is not there (exit status 127)."""
    if shell == "bash":
        return f"bash: line 1: {program}: command not found"
    if flavour in ("busybox", "alpine"):
        return f"{shell}: {program}: not found"
    return f"{shell}: 1: {program}: not found"


def cat_missing(flavour: str, path: str) -> str:
    if flavour in ("busybox", "alpine"):
        return f"cat: can't open '{path}': No such file or directory"
    return f"cat: {path}: No such file or directory"


# -- probes (kubelet prober) --------------------------------------------------------------------------------
def http_status(code: int) -> str:
    return f"HTTP probe failed with statuscode: {code}"


def http_refused(scheme: str, host: str, port: int, path: str) -> str:
    return f'Get "{scheme.lower()}://{host}:{port}{path}": dial tcp {host}:{port}: connect: connection refused'


def http_eof(scheme: str, host: str, port: int, path: str) -> str:
    return f'Get "{scheme.lower()}://{host}:{port}{path}": EOF'


def tcp_refused(host: str, port: int) -> str:
    return f"dial tcp {host}:{port}: connect: connection refused"


def grpc_unreachable(host: str, port: int, timeout_s: int) -> str:
    return f'timeout: failed to connect service "{host}:{port}" within {timeout_s}s: context deadline exceeded'


# -- configuration (kubelet) -------------------------------------------------------------------------------
def not_found(kind: str, name: str) -> str:
    """`configmap "app-config" not found` / `secret "db-secret" not found`."""
    return f'{kind} "{name}" not found'


def missing_key(key: str, kind: str, namespace: str, name: str) -> str:
    """`couldn't find key password in Secret shop/db`."""
    return f"couldn't find key {key} in {kind} {namespace}/{name}"


def mount_failed(volume: str, why: str) -> str:
    return f'MountVolume.SetUp failed for volume "{volume}" : {why}'


def mount_timeout(unmounted: list[str]) -> str:
    return (f"Unable to attach or mount volumes: unmounted volumes=[{' '.join(unmounted)}], unattached volumes=[], "
            "failed to process volumes=[]: timed out waiting for the condition")


# -- the kernel ----------------------------------------------------------------------------------------------
def oom_kill(pid: int, comm: str, total_vm_kb: int, anon_rss_kb: int, file_rss_kb: int, pgtables_kb: int,
             oom_score_adj: int, uid: int = 0) -> str:
    """The kernel's line for a memory cgroup OOM kill (node-problem-detector's `OOMKilling` event)."""
    return (f"Memory cgroup out of memory: Killed process {pid} ({comm[:15]}) total-vm:{total_vm_kb}kB, "
            f"anon-rss:{anon_rss_kb}kB, file-rss:{file_rss_kb}kB, shmem-rss:0kB, UID:{uid} "
            f"pgtables:{pgtables_kb}kB oom_score_adj:{oom_score_adj}")
