"""One source of settings for every front door: ``c.CodexNB`` config → environment → flags.

The magics, the terminal review, the CLI, the server and the agent all call
``resolve_settings`` with the flags they were given; nothing else reads
``load_config`` for acceptance settings, so the doors cannot disagree.
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields, replace


@dataclass(frozen=True)
class Settings:
    model: str | None = None  # the resolved model id (None: no model configured here)
    validate: bool = True
    validate_mode: str = "targeted"  # whatever c.CodexNB.validate_mode allows (targeted, full, auto, …)
    cell_timeout: float = 120.0
    total_timeout: float = 900.0
    skip_tags: tuple[str, ...] = ("codex-skip",)
    drift_fails: bool = False
    repair: int = 0  # automatic repair rounds (the CLI's --repair); interactive doors ask instead
    kernel_name: str | None = None
    tests: str = "auto"
    test_timeout: float = 600.0
    checks: tuple[str, ...] = ()
    check_timeout: float = 300.0
    commit: str = "off"
    commit_allow_dirty: bool = False  # a commit may carry uncommitted edits to the files the change touches
    validate_in_place: bool = False  # validation runs in the notebook's own directory (its files may change)
    validate_network: bool = True  # the validation kernel may reach the network
    validate_scratch_mb: float = 200.0  # most megabytes copied into the scratch directory
    lock_timeout: float = 60.0  # seconds an apply waits for another apply of the same notebook
    validation_gateway_url: str | None = None  # a Kernel Gateway for the notebook gate's kernel (None: here)
    extra: dict = field(default_factory=dict)

    def with_flags(self, **flags) -> "Settings":
        """These settings with the flags that were actually given (None means "not given")."""
        known = {f.name for f in fields(self)}
        given = {k: (tuple(v) if isinstance(v, list) else v) for k, v in flags.items() if v is not None and k in known}
        return replace(self, **given)


def resolve_settings(*, with_model: bool = True, **flags) -> Settings:
    """Settings from the configuration files (IPython's inside a kernel), then the flags given.

    ``with_model=False`` leaves ``model`` as flagged (for doors that never ask a model, such as
    ``codex-nb validate``: resolving one loads the provider registry).
    """
    from ..config import load_config

    config = load_config()
    base = Settings(
        model=None,
        validate=config.validate,
        validate_mode=config.validate_mode,
        cell_timeout=config.cell_timeout,
        total_timeout=config.total_timeout,
        skip_tags=tuple(config.skip_tags),
        drift_fails=config.drift_fails,
        repair=config.repair,
        tests=config.tests,
        test_timeout=config.test_timeout,
        checks=tuple(config.checks),
        check_timeout=config.check_timeout,
        commit=config.commit,
        commit_allow_dirty=config.commit_allow_dirty,
        **_validation_settings(config),
        validation_gateway_url=config.validation_gateway_url or None,
    )
    settings = base.with_flags(**flags)
    if not with_model:
        return settings
    return replace(settings, model=resolve_model(flags.get("model"), config.model))


def _validation_settings(config) -> dict:
    """Where validation runs and what it may reach: c.CodexNB, then CODEX_NB_VALIDATE_* in the environment."""
    from ..validate.api import environment_settings

    env = environment_settings()
    return dict(validate_in_place=env.get("in_place", config.validate_in_place),
                validate_network=env.get("network", config.validate_network),
                validate_scratch_mb=env.get("scratch_limit_mb", config.validate_scratch_mb))


def resolve_model(flag: str | None = None, configured: str | None = None) -> str | None:
    """The model every door uses: flag > c.CodexNB.model > CODEX_NB_MODEL > first provider with credentials."""
    from ..errors import ConfigurationError
    from ..providers.registry import resolve_model_id

    if configured is None:
        from ..config import load_config

        configured = load_config().model
    try:
        return resolve_model_id(flag, configured or None)
    except ConfigurationError:
        return None
