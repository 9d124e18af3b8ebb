"""The monitoring panel's rows (GPU, VRAM, CPU, RAM, the model loaded, tokens per second,
learning), from the figures a Hub reads (`Hub.live`); the page's panel
(ui/elements/Monitoring.jsx) reads them from the API's /monitoring/panel."""

from __future__ import annotations

import time
from typing import Any

REFRESH_SECONDS = 3


def monitor_rows(figures: dict) -> list[tuple[str, str]]:
    gpu = figures.get("gpu")
    rows = [("GPU", f"{gpu['name']}, {gpu['utilization_pct']} % busy" if gpu else figures.get("gpu_note") or "none")]
    if gpu:
        rows.append(("VRAM", f"{gpu['vram_used_mb']:,} / {gpu['vram_total_mb']:,} MB"))
    else:
        rows.append(("VRAM", "no GPU"))
    rows.append(("CPU", f"{figures.get('cpu_pct') or 0:.0f} %"))
    rows.append(
        ("RAM", f"{(figures.get('ram_used_mb') or 0) / 1024:.1f} / {(figures.get('ram_total_mb') or 0) / 1024:.1f} GB")
    )
    rows.append(("Model loaded", ", ".join(figures.get("models_loaded") or []) or "none yet"))
    last = figures.get("last_answer")
    rows.append(("Tokens/s", f"{last['tokens_per_second']} ({last['model']})" if last else "no answer yet"))
    rows.append(("Learning", (figures.get("learning") or "no cycle yet").removeprefix("learning: ")))
    return rows


def panel(figures: dict, language: str | None = None) -> dict[str, Any]:
    """What /monitoring/panel answers: the rows, and when they were read, in `language`."""
    from ui.words import word

    updated = word("updated {time}, every {every} s", language)
    return {
        "now": word("now", language),
        "rows": [[word(name, language), word(value, language)] for name, value in monitor_rows(figures)],
        "updated": updated.format(time=time.strftime("%H:%M:%S"), every=REFRESH_SECONDS),
    }
