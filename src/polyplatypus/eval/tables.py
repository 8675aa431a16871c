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


def results_markdown(records: list[dict], metric: str = "macro_f1", decimals: int = 4) -> str:
    """Markdown tables of ``metric`` (F1 by default) with four decimals, tasks in first-seen order."""
    tasks, models, shots = [], [], sorted({r["shots"] for r in records})
    values = {}
    for r in records:
        if r["task"] not in tasks:
            tasks.append(r["task"])
        if r["model"] not in models:
            models.append(r["model"])
        values[(r["task"], r["model"], r["shots"])] = r.get(metric)
    label = "F1" if metric == "macro_f1" else metric
    blocks = []
    for task in tasks:
        lines = [
            f"### {task_title(task)} ({label})",
            "",
            "| Model | " + " | ".join(f"{k}-shot" for k in shots) + " |",
            "| --- | " + " | ".join("---" for _ in shots) + " |",
        ]
        for model in models:
            cells = []
            for k in shots:
                value = values.get((task, model, k))
                cells.append("" if value is None else f"{value:.{decimals}f}")
            if any(cells):
                lines.append(f"| {md_escape(model)} | " + " | ".join(cells) + " |")
        blocks.append("\n".join(lines))
    rescored = [r for r in records if r.get("rescored")]
    if rescored:  # only half-precision runs re-score; fp32 tables stay as they were
        blocks.append("Near-ties re-scored the reference way (one row per choice, batch 1): " + "; ".join(
            f"{r['model']} {task_title(r['task'])} {r['shots']}-shot {r['rescored']} of {r['n']}" for r in rescored))
    adapters = {r["model"]: (r["adapter_path"], r.get("model_path")) for r in records if r.get("adapter_path")}
    if adapters:  # a LoRA adapter's row is the base with the adapter, scored through PEFT
        blocks.append("LoRA adapters scored on their base without merging: " + "; ".join(
            f"{model}: adapter {adapter} on base {base}" for model, (adapter, base) in adapters.items()))
    return "\n\n".join(blocks) + "\n"
