"""What the learning cycle deployed, as the model layer reads it: the `deployments` table
(training/deploy.py writes it; rollback writes the row before again)."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import text

from society.storage.store import Store


def deployed_lora(model: str) -> str | None:
    """The GGUF LoRA deployed for the embedded model `model`; None when the latest deployment
    is the plain model, its file is gone, or it was trained on another model (a ladder whose
    embedded model changed must not attach the old model's adapter to the new one)."""
    with Store().engine.connect() as conn:
        # The embedded model's deployments only (base NULL): an adapter deployed to an
        # Ollama model was trained on another base and must never be attached here.
        row = conn.execute(
            text(
                "SELECT d.gguf, a.base FROM deployments d LEFT JOIN adapters a ON a.name = d.adapter"
                " WHERE d.base IS NULL ORDER BY d.id DESC LIMIT 1"
            )
        ).first()
    if row is None or not row[0] or row[1] != f"embedded:{model}":
        return None
    return row[0] if Path(row[0]).exists() else None


def deployed_tags() -> dict[str, str]:
    """{Ollama model: the tag with its deployed adapter that takes its place now}; a rollback
    to the plain model leaves the model out."""
    latest: dict[str, str | None] = {}
    with Store().engine.connect() as conn:
        for base, tag in conn.execute(
            text("SELECT base, ollama_tag FROM deployments WHERE base IS NOT NULL ORDER BY id")
        ):
            latest[base] = tag
    return {base: tag for base, tag in latest.items() if tag}
