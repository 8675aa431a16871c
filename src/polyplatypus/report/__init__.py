"""Reports from evaluation results: tables (``tables``), the model card with bootstrap intervals
(``card``), its HTML page (``html``) and plots (``plots``)."""


def write_report(paths, output, **kwargs):
    """card.md, card.html, plots/*.png and results.json; see :func:`polyplatypus.report.card.write_report`."""
    from polyplatypus.report.card import write_report as _write

    return _write(paths, output, **kwargs)


__all__ = ["write_report"]
