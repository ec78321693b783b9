"""Shared care plans: the HAS PPCS, versioned, validated, followed up, with tasks and reminders."""
