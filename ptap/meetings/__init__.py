"""Multidisciplinary meetings (concertations pluriprofessionnelles) and their decisions."""
