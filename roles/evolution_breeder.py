"""Evolution breeder: LoRA variants and evolutionary merging (arrives with its issue)."""

from roles.base import RoleSpec

ROLE = RoleSpec(
    name="evolution_breeder",
    description="Trains LoRA variants and breeds better models by evolutionary merging.",
    ready=False,
    triggers=(r"\b(evolve|evolution|merge|breed|fine-?tune|lora)\b", r"進化|交配|マージ|ファインチューン"),
)
