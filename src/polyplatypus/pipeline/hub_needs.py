"""The hub ids a recipe run is about to load, named with the recipe key that replaces each: one
report for the whole run, before any stage works (and before the run's settings ask the hub for
commits), instead of one stage after another retrying for half a minute."""

from __future__ import annotations

from polyplatypus.pipeline.config import BASE, MERGED
from polyplatypus.utils.hub import HubNeed

KOBEST_INSTEAD = "--set eval.kobest_dir=DIR or $POLYPLATYPUS_KOBEST_DIR (the KoBEST v1.0 TSV folder)"


def recipe_hub_needs(run, stages) -> list[HubNeed]:
    """What the stages ``stages`` of ``run`` (a :class:`polyplatypus.pipeline.stages.Run`) load
    from the hub: the base model, hub data sources, KoBEST without a folder, hub models and lm-eval
    task data of the eval section."""
    from polyplatypus.data.instructions import instruction_needs
    from polyplatypus.models.loading import hub_model_needs

    config, needs = run.config, []
    if config.base.model is not None and set(stages) & {"train", "merge", "eval"}:
        needs += hub_model_needs([config.base.model], "--set base.model=DIR (a local model folder)")
    if "data" in stages and config.data is not None:
        needs += instruction_needs(
            config.data.sources,
            "--set data.sources=[FILE] (a local .jsonl, or builtin:instructions/ko_platypus_sample.jsonl)",
        )
        if "kobest" in config.data.decontaminate and _kobest_dir(run.data_kobest_dir) is None:
            needs.append(HubNeed("skt/kobest_v1", "dataset", "KoBEST data (decontamination)", KOBEST_INSTEAD))
    if "eval" in stages and config.eval.enabled:
        needs += _eval_needs(run)
    return needs


def _kobest_dir(chosen):
    from polyplatypus.data.kobest import resolve_kobest_dir

    return resolve_kobest_dir(chosen)


def _eval_needs(run) -> list[HubNeed]:
    from polyplatypus.data.task_data import SOURCE_FOLDERS, reference_task_needs
    from polyplatypus.models.loading import hub_model_needs
    from polyplatypus.tasks.lm_eval_tasks import hub_needs, is_lm_eval_name
    from polyplatypus.tasks.registry import get_task

    section = run.config.eval
    models = [entry.partition("=")[2] or entry for entry in section.models or [] if entry not in (BASE, MERGED)]
    needs = hub_model_needs(models, "a local model folder in eval.models (--set eval.models=[base,DIR])")
    names = [name for name in section.tasks if is_lm_eval_name(name)]
    tasks = [get_task(name) for name in section.tasks if not is_lm_eval_name(name)]
    dirs = {source: getattr(section, folder.setting, None) for source, folder in SOURCE_FOLDERS.items()}
    dirs["kobest"] = run.eval_kobest_dir
    needs += [
        HubNeed(n.repo_id, n.repo_type, n.what, KOBEST_INSTEAD if n.repo_id == "skt/kobest_v1" else n.instead)
        for n in reference_task_needs(tasks, dirs)
    ]
    return needs + (hub_needs(names, section.include_path) if names else [])
