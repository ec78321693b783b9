"""Coordination letters: team templates (versioned, sandboxed), letters signed, filed, sent."""
