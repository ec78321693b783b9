"""Accounts: professionals, passwords, TOTP second factor, sessions and API tokens."""
