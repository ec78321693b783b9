"""Request intake (sollicitations): triage, answer, closure or enrolment, clocks."""
