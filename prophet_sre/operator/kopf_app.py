"""kopf wiring: which kopf handlers call which `Controller` method, and how kopf logs in.

Handlers are registered on a registry built per call (never kopf's global one), so importing this module
has no side effect and two operators in one test process do not share handlers.

- create / resume (operator start) / spec update -> `Controller.observe`
- a timer every `interval_s` -> `Controller.tick` (approvals, trigger poll, incidents)
- every watch event carrying an approve/reject annotation -> `Controller.approvals` (fast path; the
  timer picks up any it missed)
- delete -> `Controller.forget` (optional handler: no finalizer of ours)

kopf's own peering is off (`standalone`): leader election is our Lease (`leader.py`). kopf's progress
and diff-base records go to annotations under our group, and kopf posts no Events (we write our own).
"""

from __future__ import annotations

import logging
from typing import Any

import kopf

from prophet_sre.config import Settings
from prophet_sre.errors import ConfigError
from prophet_sre.operator.controller import APPROVE_ANNOTATION, REJECT_ANNOTATION, Controller
from prophet_sre.operator.status import GROUP, PLURAL, VERSION

log = logging.getLogger(__name__)


def connection_info(settings: Settings) -> kopf.ConnectionInfo:
    """kopf's credentials from the same kubeconfig (or in-cluster service account) Prophet's client uses."""
    from kubernetes import client as kclient
    from kubernetes import config as kconfig
    from kubernetes.config.config_exception import ConfigException

    cfg = kclient.Configuration()
    path = str(settings.kube.kubeconfig.expanduser()) if settings.kube.kubeconfig else None
    try:
        kconfig.load_kube_config(config_file=path, context=settings.kube.context, client_configuration=cfg)
    except (ConfigException, OSError, TypeError) as e:
        if path or settings.kube.context:
            raise ConfigError(f"cannot load kubeconfig {path or '(default)'}: {e}") from e
        try:
            kconfig.load_incluster_config(client_configuration=cfg)
        except ConfigException as e2:
            raise ConfigError(f"no kubeconfig and not running in a cluster: {e2}") from e2
    header = cfg.get_api_key_with_prefix("authorization") or cfg.get_api_key_with_prefix("BearerToken") or ""
    scheme, _, token = header.partition(" ") if " " in header else ("Bearer", "", header)
    return kopf.ConnectionInfo(
        server=cfg.host, ca_path=cfg.ssl_ca_cert, insecure=not cfg.verify_ssl,
        certificate_path=cfg.cert_file, private_key_path=cfg.key_file,
        scheme=scheme if token else None, token=token or None,
        username=cfg.username or None, password=cfg.password or None)


def _plain(body: Any) -> dict[str, Any]:
    """kopf's Body view as a plain dict (the controller never sees kopf types)."""
    return {k: body[k] for k in body}


def build_registry(controller: Controller, settings: Settings, *, interval_s: float,
                   workers: int = 4) -> kopf.OperatorRegistry:
    registry = kopf.OperatorRegistry()
    resource = (GROUP, VERSION, PLURAL)

    @kopf.on.startup(registry=registry)
    def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
        settings.peering.standalone = True
        settings.posting.enabled = False
        settings.execution.max_workers = workers
        settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=GROUP)
        settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(prefix=GROUP)
        settings.watching.server_timeout = 300
        settings.networking.request_timeout = 60

    @kopf.on.login(registry=registry)
    def login(**_: Any) -> kopf.ConnectionInfo:
        return connection_info(settings)

    @kopf.on.resume(*resource, registry=registry)
    @kopf.on.create(*resource, registry=registry)
    @kopf.on.update(*resource, field="spec", registry=registry)
    def spec_changed(body: Any, **_: Any) -> None:
        controller.observe(_plain(body))

    @kopf.on.delete(*resource, optional=True, registry=registry)
    def deleted(namespace: str, name: str, **_: Any) -> None:
        controller.forget(namespace, name)

    @kopf.timer(*resource, interval=interval_s, registry=registry)
    def tick(body: Any, **_: Any) -> None:
        controller.tick(_plain(body))

    @kopf.on.event(*resource, registry=registry)
    def annotated(body: Any, type: str | None, **_: Any) -> None:
        annotations = (body.get("metadata") or {}).get("annotations") or {}
        if type != "DELETED" and (annotations.get(APPROVE_ANNOTATION) or annotations.get(REJECT_ANNOTATION)):
            controller.approvals(_plain(body))

    return registry


__all__ = ["build_registry", "connection_info"]
