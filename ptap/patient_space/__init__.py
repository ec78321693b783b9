"""The patient's and caregiver's space: accounts, sign-in by e-mailed code, what they see."""
