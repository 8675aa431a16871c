"""Result tables in the model card's layout: one table per task, a row per model, a column per shot
count. Evaluation writes them (``results.md``, the summary ``eval`` prints); the report reads the
task titles from here too."""

from __future__ import annotations

from polyplatypus.tasks.registry import get_task


def task_title(name: str) -> str:
    """A task's heading in tables (from the task registry; the name itself for an unknown task)."""
    try:
        return get_task(name).title
    except Exception:  # a task this version does not know still gets a table
        return name


def md_escape(text: str) -> str:
    """``text`` safe inside a Markdown table cell (a ``|`` would start another column)."""
    return str(text).replace("|", "\\|")


def _lm_eval_entry(record: dict) -> dict:
    """lm-eval's results entry of an lm_eval: record's task or group ({} for our own tasks)."""
    from polyplatypus.eval.lm_eval_results import lm_eval_task_name

    own = record.get("lm_eval") if str(record.get("task", "")).startswith("lm_eval:") else None
    results = (own or {}).get("results") or {}
    return results.get(lm_eval_task_name(record["task"])) or {}


def record_metrics(record: dict) -> dict[str, tuple[float | None, float | None]]:
    """A record's own declared metrics, each as (value, stderr): an lm_eval: task's as lm-eval
    names them (``acc``, ``exact_match,flexible-extract``: the filter 'none' left out) with
    lm-eval's stderrs; ours (macro-F1, acc, acc_norm where the task defines them), acc's stderr by
    lm-eval's formula for a mean. Never a macro-F1 a task does not define."""
    from polyplatypus.eval.lm_eval_results import mean_stderr

    entry = _lm_eval_entry(record)
    if entry:
        found = {}
        for key, value in entry.items():
            if "," not in key or "_stderr," in key or not isinstance(value, (int, float)) or isinstance(value, bool):
                continue
            metric, filter_key = key.split(",", 1)
            stderr = entry.get(f"{metric}_stderr,{filter_key}")
            name = metric if filter_key == "none" else key
            found[name] = (float(value), float(stderr) if isinstance(stderr, (int, float)) else None)
        return found
    try:
        declared = get_task(record["task"]).metrics
    except Exception:  # a task this version does not know: what its record holds
        declared = ("macro_f1", "acc", "acc_norm")
    n = record.get("n")
    return {
        metric: (
            record.get(metric),
            mean_stderr(float(record[metric]), n)
            if metric != "macro_f1" and isinstance(record.get(metric), (int, float))
            else None,
        )
        for metric in declared
        if metric in record
    }


def _shown(value: float | None, stderr: float | None, decimals: int) -> str:
    if value is None:
        return ""
    return f"{value:.{decimals}f}" + (f" ± {stderr:.{decimals}f}" if stderr is not None else "")


def results_markdown(records: list[dict], decimals: int = 4) -> str:
    """Markdown tables, one per task and declared metric (:func:`record_metrics`; macro-F1 headed
    "F1"), a row per model and a column per shot count, values with four decimals and ± stderr
    where the metric has one; tasks in first-seen order."""
    tasks, models, shots = [], [], sorted({r["shots"] for r in records})
    values: dict[tuple, tuple] = {}
    metrics_of: dict[str, list[str]] = {}
    for r in records:
        if r["task"] not in tasks:
            tasks.append(r["task"])
        if r["model"] not in models:
            models.append(r["model"])
        for metric, value in record_metrics(r).items():
            listed = metrics_of.setdefault(r["task"], [])
            if metric not in listed:
                listed.append(metric)
            values[(r["task"], metric, r["model"], r["shots"])] = value
    blocks = []
    for task in tasks:
        for metric in metrics_of.get(task, []):
            label = "F1" if metric == "macro_f1" else metric
            lines = [
                f"### {task_title(task)} ({label})",
                "",
                "| Model | " + " | ".join(f"{k}-shot" for k in shots) + " |",
                "| --- | " + " | ".join("---" for _ in shots) + " |",
            ]
            for model in models:
                cells = [_shown(*values.get((task, metric, model, k), (None, None)), decimals) for k in shots]
                if any(cells):
                    lines.append(f"| {md_escape(model)} | " + " | ".join(cells) + " |")
            blocks.append("\n".join(lines))
    rescored = [r for r in records if r.get("rescored")]
    if rescored:  # only half-precision runs re-score; fp32 tables stay as they were
        blocks.append(
            "Near-ties re-scored the reference way (one row per choice, batch 1): "
            + "; ".join(
                f"{r['model']} {task_title(r['task'])} {r['shots']}-shot {r['rescored']} of {r['n']}" for r in rescored
            )
        )
    adapters = {r["model"]: (r["adapter_path"], r.get("model_path")) for r in records if r.get("adapter_path")}
    if adapters:  # a LoRA adapter's row is the base with the adapter, scored through PEFT
        blocks.append(
            "LoRA adapters scored on their base without merging: "
            + "; ".join(f"{model}: adapter {adapter} on base {base}" for model, (adapter, base) in adapters.items())
        )
    return "\n\n".join(blocks) + "\n"
