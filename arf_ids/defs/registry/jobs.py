"""Operator jobs on the model registry: promote a chosen version, roll production back."""

import dagster as dg

from arf_ids.defs.resources import ModelRegistryResource


class PromoteVersionConfig(dg.Config):
    """The registered version of ``arf-ids`` to serve."""

    version: int
    reason: str = "manual promotion"


@dg.op
def promote_version(
    context: dg.OpExecutionContext, config: PromoteVersionConfig, model_registry: ModelRegistryResource
) -> None:
    """Move the `production` alias to the chosen version."""
    previous = model_registry.registry().promote(config.version, reason=config.reason)
    context.log_event(
        dg.AssetMaterialization(
            asset_key="promoted_model",
            metadata={"model_version": config.version, "previous_version": previous or 0, "reason": config.reason},
        )
    )


@dg.op
def rollback_production(context: dg.OpExecutionContext, model_registry: ModelRegistryResource) -> None:
    """Move the `production` alias back to the version it had before."""
    registry = model_registry.registry()
    current = registry.version_for("production")
    restored = registry.rollback()
    context.log_event(
        dg.AssetMaterialization(
            asset_key="promoted_model",
            metadata={"model_version": restored, "previous_version": current or 0, "reason": "rollback"},
        )
    )


@dg.job(description="Promote a given registered version to production.")
def promote_version_job() -> None:
    promote_version()


@dg.job(description="Roll production back to the previous version.")
def rollback_job() -> None:
    rollback_production()
