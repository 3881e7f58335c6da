"""One `Settings` object for all of Prophet, built once at the entry point and passed down.

Precedence, highest first: explicit arguments (CLI flags) > environment (`PROPHET_*`, nested groups
with `__`, e.g. `PROPHET_SIM__SPEED=20`) > the YAML file named by `PROPHET_CONFIG` > defaults.
This is the only module that reads the environment; tests build `Settings(...)` directly.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, Field, ValidationError
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from prophet_sre.errors import ConfigError


class SimSettings(BaseModel):
    """The simulated cluster (`prophet sim up`)."""

    host: str = "127.0.0.1"
    """Bind address. Loopback by default: the simulator has no authentication worth the name."""
    port: int = Field(default=0, ge=0, le=65535)
    """API server port; 0 picks a free one (printed and written to the kubeconfig)."""
    speed: float = Field(default=1.0, gt=0, le=1000)
    """Sim seconds per wall second. Evals run at 10-50x; the demo at ~5x so people can follow it."""
    workers: int = Field(default=2, ge=0, le=5000)
    """Worker nodes per cluster (plus one tainted control-plane node), like a small kind cluster."""
    kubeconfig: Path = Path("~/.kube/prophet-sim.yaml")
    """Where `prophet sim up` writes its kubeconfig (context `prophet-sim`)."""


class KubeSettings(BaseModel):
    """How Prophet reaches clusters."""

    kubeconfig: Path | None = None
    """None: `$KUBECONFIG`, then `~/.kube/config`, then in-cluster config."""
    context: str | None = None
    request_timeout_s: float = Field(default=10.0, gt=0)
    """Per API call. Ten seconds is what kubectl users tolerate before assuming the server is down."""


class Settings(BaseSettings):
    """Root settings; every field has a default so `Settings()` works on a fresh machine."""

    model_config = SettingsConfigDict(env_prefix="PROPHET_", env_nested_delimiter="__", extra="forbid")

    log_level: str = "INFO"
    data_dir: Path = Path("~/.prophet")
    """Audit log, checkpoints, Chroma index, incident memory."""
    sim: SimSettings = SimSettings()
    kube: KubeSettings = KubeSettings()

    @classmethod
    def settings_customise_sources(cls, settings_cls: type[BaseSettings],
                                   init_settings: PydanticBaseSettingsSource,
                                   env_settings: PydanticBaseSettingsSource,
                                   dotenv_settings: PydanticBaseSettingsSource,
                                   file_secret_settings: PydanticBaseSettingsSource,
                                   ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, _YamlFileSource(settings_cls))

    def data_path(self, *parts: str) -> Path:
        path = self.data_dir.expanduser().joinpath(*parts)
        path.parent.mkdir(parents=True, exist_ok=True)
        return path


class _YamlFileSource(PydanticBaseSettingsSource):
    """Values from the YAML file named by `PROPHET_CONFIG` (lowest precedence above defaults)."""

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:  # pragma: no cover
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        path = os.environ.get("PROPHET_CONFIG")
        if not path:
            return {}
        try:
            data = yaml.safe_load(Path(path).expanduser().read_text()) or {}
        except (OSError, yaml.YAMLError) as e:
            raise ConfigError(f"PROPHET_CONFIG={path}: cannot read it: {e}") from e
        if not isinstance(data, dict):
            raise ConfigError(f"PROPHET_CONFIG={path}: expected a mapping at the top level")
        return data


def load_settings(**overrides: Any) -> Settings:
    """Build settings, turning validation errors into a ConfigError that names the setting."""
    try:
        return Settings(**overrides)
    except ValidationError as e:
        first = e.errors()[0]
        loc = ".".join(str(x) for x in first["loc"])
        env = "PROPHET_" + "__".join(str(x).upper() for x in first["loc"])
        raise ConfigError(f"setting {loc} ({env}): {first['msg']}") from e
