"""Memory keeper: long-term memory through remember, recall, update_memory and forget."""

from roles.base import RoleSpec

ROLE = RoleSpec(
    name="memory_keeper",
    description="Remembers facts, preferences and decisions, and recalls them when they matter.",
    ready=True,
    must_act=True,
    triggers=(r"\b(remember|recall|forget|what did (i|we) say)\b", r"覚えて|思い出|忘れ"),
)
