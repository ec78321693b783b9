"""Real-time secure messaging: patient, team and direct conversations that never lose a message."""
