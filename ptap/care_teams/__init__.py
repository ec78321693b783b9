"""Care teams: territories, structures, teams, patients with their INS, enrolment, circle,
consent ledger and need-to-know access."""
