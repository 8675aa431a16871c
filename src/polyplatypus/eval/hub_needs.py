"""The hub ids an evaluation is about to load, each with what replaces it offline
(:func:`polyplatypus.utils.hub.check_hub_needs` reports those not cached, before any work)."""

from __future__ import annotations

from polyplatypus.data.task_data import reference_task_needs
from polyplatypus.models.loading import hub_model_needs


def eval_hub_needs(config, specs, tasks) -> list:
    """Hub models of ``specs``, and the hub data of ``tasks`` (reference tasks without a local
    folder, lm-eval tasks whose dataset_path is a hub id)."""
    needs = hub_model_needs([spec.path for spec in specs], "give a local model folder to --model [LABEL=]DIR")
    needs += reference_task_needs([task for task in tasks if not isinstance(task, str)], config.data_dirs)
    names = [task for task in tasks if isinstance(task, str)]
    if names:
        from polyplatypus.tasks.lm_eval_tasks import hub_needs

        needs += hub_needs(names, config.include_path)
    return needs
