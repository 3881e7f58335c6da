"""The `AutonomousAction` spec (`aiops.prophet.io/v1alpha1`) as a model: what triggers Prophet, which
LLM (if any) it may use, how it gets approval, and the constraints the safety critic enforces.

One model serves three entry points: `prophet run --policy FILE` (YAML: either a bare spec or a whole
`AutonomousAction` object), the operator (the custom resource's `spec`), and the built-in default. Field
names are the CRD's (camelCase); Python code reads them in snake_case. Unknown fields are errors that
name the field, so a typo in a policy never silently loosens it.

Defaults are the conservative ones an SRE would pick for a first run: system namespaces are off
limits, one action at a time per target with a five-minute cooldown, small blast radius, and a higher
confidence bar for riskier actions.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic.alias_generators import to_camel

from prophet_sre.domain import ACTION_TYPES, Risk
from prophet_sre.errors import ConfigError

API_VERSION = "aiops.prophet.io/v1alpha1"
KIND = "AutonomousAction"
PROTECTED_KEY = "aiops.prophet.io/protected"
"""Label or annotation (value "true") that opts an object out of every write Prophet would make."""
DEFAULT_FORBIDDEN_NAMESPACES: tuple[str, ...] = ("kube-system", "kube-public", "kube-node-lease", "prophet-system")
ActionType = Literal[
    "restart", "scale", "rollback", "delete_pod", "set_resources", "patch", "recreate", "cordon", "uncordon",
    "drain", "quarantine", "adjust_hpa", "scale_nodes", "failover", "escalate",
]
assert set(ActionType.__args__) == set(ACTION_TYPES)  # type: ignore[attr-defined]


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", alias_generator=to_camel, populate_by_name=True)


class TriggerSpec(_Spec):
    type: Literal["anomaly", "k8sgpt", "hubble", "event", "schedule"] = "anomaly"
    anomaly_score_threshold: float = Field(default=0.8, ge=0.0, le=1.0)
    selector: str = ""
    """Label selector (`app=web,tier!=db`) limiting which objects may trigger."""
    namespaces: list[str] = Field(default_factory=list)
    """Namespaces watched; empty: all (minus the forbidden ones)."""
    event_reasons: list[str] = Field(default_factory=list)
    """For `event`: the Event reasons that start an incident (`FailedScheduling`, `BackOff`, ...)."""
    verdicts: list[str] = Field(default_factory=list)
    """For `hubble`: flow verdicts that count (`DROPPED`, `ERROR`)."""
    schedule: str = ""
    """For `schedule`: a cron expression (five fields)."""

    @model_validator(mode="after")
    def _needs(self) -> TriggerSpec:
        if self.type == "schedule" and not self.schedule:
            raise ValueError("trigger.schedule is required when trigger.type is schedule (a cron expression)")
        return self


class SecretRef(_Spec):
    name: str
    key: str = "apiKey"
    namespace: str = ""


class LLMSpec(_Spec):
    provider: Literal["none", "ollama", "openai", "anthropic"] = "none"
    model: str = ""
    endpoint: str = ""
    """Base URL (Ollama: http://127.0.0.1:11434; OpenAI-compatible: .../v1). Empty: the provider's default."""
    secret_ref: SecretRef | None = None
    max_steps: int = Field(default=6, ge=1, le=50)
    """Tool calls the diagnoser may make before it must answer."""
    max_tokens: int = Field(default=16_000, ge=256, le=400_000)
    """Total tokens (prompt + completion, every call counted with the whole conversation it resends) per
    incident; past it the deterministic result stands. 16k fits about three bounded tool calls."""
    timeout_seconds: float = Field(default=30.0, gt=0, le=600)
    temperature: float = Field(default=0.0, ge=0.0, le=2.0)

    @model_validator(mode="after")
    def _model_named(self) -> LLMSpec:
        if self.provider != "none" and not self.model:
            raise ValueError(f"llm.model is required with provider {self.provider!r} (e.g. llama3.2, phi3)")
        return self


class BlastRadiusLimit(_Spec):
    pods: int = Field(default=10, ge=0)
    replicas: int = Field(default=10, ge=0)
    nodes: int = Field(default=1, ge=0)
    namespaces: int = Field(default=1, ge=0)


class MinConfidence(_Spec):
    """Confidence a diagnosis needs before an action of each risk may run without a human."""

    low: float = Field(default=0.5, ge=0.0, le=1.0)
    medium: float = Field(default=0.7, ge=0.0, le=1.0)
    high: float = Field(default=0.9, ge=0.0, le=1.0)

    def for_risk(self, risk: Risk) -> float:
        return {Risk.LOW: self.low, Risk.MEDIUM: self.medium, Risk.HIGH: self.high}[risk]


class Constraints(_Spec):
    allowed_actions: list[ActionType] = Field(default_factory=lambda: list(ACTION_TYPES))
    forbidden_namespaces: list[str] = Field(default_factory=lambda: list(DEFAULT_FORBIDDEN_NAMESPACES))
    cooldown_seconds: int = Field(default=300, ge=0, le=86_400)
    """Per target and action type, measured on the cluster's clock."""
    max_concurrent: int = Field(default=1, ge=1, le=100)
    """Incidents executing at the same time (across processes sharing the data directory)."""
    max_blast_radius: BlastRadiusLimit = Field(default_factory=BlastRadiusLimit)
    min_confidence: MinConfidence = Field(default_factory=MinConfidence)
    high_risk_needs_approval: bool = True
    """Even in autonomous mode a high-risk action waits for a human."""

    @field_validator("max_blast_radius", mode="before")
    @classmethod
    def _pods_shorthand(cls, v: Any) -> Any:
        return {"pods": v} if isinstance(v, int) else v

    @field_validator("min_confidence", mode="before")
    @classmethod
    def _one_number(cls, v: Any) -> Any:
        return {"low": v, "medium": v, "high": v} if isinstance(v, int | float) else v


class AutonomousActionSpec(_Spec):
    trigger: TriggerSpec = Field(default_factory=TriggerSpec)
    llm: LLMSpec = Field(default_factory=LLMSpec)
    approval_mode: Literal["autonomous", "human-in-loop", "dry-run"] = "human-in-loop"
    constraints: Constraints = Field(default_factory=Constraints)
    clusters: list[str] = Field(default_factory=list)
    """Fleet scope: cluster (kubeconfig context) names; empty: the current cluster."""

    @classmethod
    def from_custom_resource(cls, obj: dict[str, Any]) -> AutonomousActionSpec:
        """The `spec` of an `AutonomousAction` object, with errors naming the object."""
        meta = obj.get("metadata") or {}
        where = f"AutonomousAction {meta.get('namespace', '')}/{meta.get('name', '?')}"
        if obj.get("kind") not in (None, KIND):
            raise ConfigError(f"{where}: kind is {obj.get('kind')!r}, expected {KIND}")
        return _validate(obj.get("spec") or {}, where)

    @classmethod
    def from_yaml(cls, path: Path | str) -> AutonomousActionSpec:
        """A policy file: a bare spec, or a whole `AutonomousAction` object (its `spec` is used)."""
        path = Path(path)
        try:
            data = yaml.safe_load(path.read_text())
        except (OSError, yaml.YAMLError) as e:
            raise ConfigError(f"{path}: cannot read the policy: {e}") from e
        if data is None:
            data = {}
        if not isinstance(data, dict):
            raise ConfigError(f"{path}: expected a mapping (an AutonomousAction spec) at the top level")
        if "apiVersion" in data or "kind" in data:
            if data.get("kind") != KIND:
                raise ConfigError(f"{path}: kind is {data.get('kind')!r}, expected {KIND}")
            data = data.get("spec") or {}
        return _validate(data, str(path))


def _validate(data: Any, where: str) -> AutonomousActionSpec:
    try:
        return AutonomousActionSpec.model_validate(data)
    except ValidationError as e:
        problems = "; ".join(f"{'.'.join(str(p) for p in err['loc']) or '(spec)'}: {err['msg']}"
                             for err in e.errors())
        raise ConfigError(f"{where}: invalid policy: {problems}") from e


__all__ = [
    "API_VERSION", "ActionType", "AutonomousActionSpec", "BlastRadiusLimit", "Constraints",
    "DEFAULT_FORBIDDEN_NAMESPACES", "KIND", "LLMSpec", "MinConfidence", "PROTECTED_KEY", "SecretRef", "TriggerSpec",
]
