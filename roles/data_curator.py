"""Data curator: creates, edits, labels and exports tuning data."""

from roles.base import RoleSpec

ROLE = RoleSpec(
    name="data_curator",
    description="Creates, edits, labels, deletes and exports the society's tuning data.",
    ready=True,
    must_act=True,
    triggers=(r"\b(dataset|training data|tuning data|label)\b", r"データセット|学習データ|ラベル"),
)
