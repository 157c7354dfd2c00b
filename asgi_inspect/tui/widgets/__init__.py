"""The inspector's widgets, one family per module."""
