"""Shared builders of the pathway tests."""

from __future__ import annotations

from ptap.pathways.content import TemplateContent, parse_content


def heart_failure(**over: object) -> TemplateContent:
    """A two-step template: a GP visit at D+7, then nurse and physio at D+14 after it."""
    data = {
        "title": "Insuffisance cardiaque : retour à domicile",
        "theme": "Insuffisance cardiaque",
        "audience": "Personne sortant d'hospitalisation pour décompensation cardiaque",
        "sources": "HAS, parcours IC 2014",
        "steps": [
            {
                "key": "s1",
                "title": "Consultation de sortie",
                "offset_days": 7,
                "problems": [
                    {"dimension": "medical", "description": "Risque de réhospitalisation"}
                ],
                "objectives": [
                    {
                        "title": "Stabiliser le traitement",
                        "actions": [
                            {"what": "Consultation médecin traitant", "profession": "physician"}
                        ],
                    }
                ],
            },
            {
                "key": "s2",
                "title": "Surveillance à domicile",
                "offset_days": 14,
                "offset_from": "previous",
                "grid_key": "nyha",
                "objectives": [
                    {
                        "title": "Surveiller le poids et les œdèmes",
                        "actions": [
                            {"what": "Pesée et surveillance", "profession": "nurse"},
                            {"what": "Réentraînement à l'effort", "profession": "physiotherapist"},
                            {"what": "Évaluation sociale", "profession": "social_worker"},
                        ],
                    }
                ],
            },
        ],
    }
    data.update(over)
    return parse_content(data)
