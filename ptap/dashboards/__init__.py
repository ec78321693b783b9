"""The coordinator's dashboard: a team's caseload with what needs attention now (read-only)."""
