"""The society's own tuning data and, later, its training: datasets the data curator keeps,
exported in the formats TRL's trainers read."""
