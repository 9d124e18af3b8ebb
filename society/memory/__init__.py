"""Long-term memory: SQLite is the source of truth, ChromaDB the rebuildable vector index,
FTS5 the keyword index; recall fuses both, consolidation runs after turns in the background."""
