"""Data curator: creates, edits, labels and exports tuning data (arrives with its issue)."""

from roles.base import RoleSpec

ROLE = RoleSpec(
    name="data_curator",
    description="Creates, edits, labels, deletes and exports the society's tuning data.",
    ready=False,
    triggers=(r"\b(dataset|training data|tuning data|label)\b", r"データセット|学習データ|ラベル"),
)
