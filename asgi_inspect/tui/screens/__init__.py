"""Modal screens: help, confirmation, text input and export."""
