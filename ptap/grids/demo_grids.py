"""The two demo grids, written for PTAP (no licensed scale is copied): a home-situation grid
and a frailty screening. Also the fixtures of the tests."""

from __future__ import annotations

from typing import Any


def _yesno(key: str, label: str, yes: int, *, required: bool = True) -> dict[str, Any]:
    return {
        "key": key,
        "label": label,
        "type": "yesno",
        "required": required,
        "points_yes": yes,
        "points_no": 0,
    }


def _choice(key: str, label: str, options: list[tuple[str, str, int]]) -> dict[str, Any]:
    return {
        "key": key,
        "label": label,
        "type": "choice",
        "required": True,
        "options": [{"code": c, "label": lab, "points": p} for c, lab, p in options],
    }


HOME_SITUATION: dict[str, Any] = {
    "title": "Situation à domicile",
    "description": "Repérage des fragilités du maintien à domicile, à remplir lors d'une visite.",
    "sections": [
        {
            "title": "Logement",
            "items": [
                _yesno("logement-obstacles", "Escaliers ou obstacles difficiles à franchir", 2),
                _yesno("logement-chauffage", "Logement mal chauffé ou insalubre", 2),
                {
                    "key": "visite-date",
                    "label": "Date de la visite",
                    "type": "date",
                    "required": True,
                },
            ],
        },
        {
            "title": "Entourage et aides",
            "items": [
                _choice(
                    "entourage",
                    "Présence de l'entourage",
                    [
                        ("quotidien", "Quotidienne", 0),
                        ("hebdo", "Hebdomadaire", 1),
                        ("rare", "Rare ou absente", 3),
                    ],
                ),
                _yesno("aidant-epuise", "L'aidant principal exprime un épuisement", 3),
                {
                    "key": "heures-aide",
                    "label": "Heures d'aide à domicile par semaine",
                    "type": "number",
                },
            ],
        },
        {
            "title": "Observations",
            "items": [{"key": "observations", "label": "Observations", "type": "text"}],
        },
    ],
    "score_items": ["logement-obstacles", "logement-chauffage", "entourage", "aidant-epuise"],
    "thresholds": [
        {"label": "Situation stable", "min": 0, "max": 3},
        {
            "label": "Situation à surveiller",
            "min": 4,
            "max": 6,
            "actions": ["Revoir le plan d'aide avec l'aidant"],
        },
        {
            "label": "Situation à risque",
            "min": 7,
            "alert": True,
            "actions": [
                "Organiser une concertation pluriprofessionnelle",
                "Proposer un relais ou un répit à l'aidant",
            ],
        },
    ],
}

FRAILTY_SCREENING: dict[str, Any] = {
    "title": "Repérage de la fragilité",
    "description": "Questions simples de repérage, à répéter pour suivre l'évolution.",
    "sections": [
        {
            "title": "Repérage",
            "items": [
                _yesno("vit-seul", "Vit seul(e)", 1),
                _yesno("perte-poids", "Perte de poids involontaire ces derniers mois", 2),
                _yesno("fatigue", "Fatigue inhabituelle ou se sent plus fatigué(e)", 1),
                _yesno("marche", "Difficultés pour se déplacer ou chutes récentes", 2),
                _yesno("memoire", "Plainte ou difficultés de mémoire", 1),
                _choice(
                    "sorties",
                    "Sorties du domicile",
                    [
                        ("regulieres", "Régulières", 0),
                        ("rares", "Rares", 1),
                        ("aucune", "Aucune", 2),
                    ],
                ),
            ],
        }
    ],
    "score_items": ["vit-seul", "perte-poids", "fatigue", "marche", "memoire", "sorties"],
    "thresholds": [
        {"label": "Pas de fragilité repérée", "min": 0, "max": 2},
        {
            "label": "Fragilité possible",
            "min": 3,
            "max": 5,
            "actions": ["Proposer une évaluation gériatrique"],
        },
        {
            "label": "Fragilité probable",
            "min": 6,
            "alert": True,
            "actions": ["Évaluation gériatrique rapide", "Bilan kinésithérapique (équilibre)"],
        },
    ],
}

DEMO_GRIDS = (("situation-domicile", HOME_SITUATION), ("reperage-fragilite", FRAILTY_SCREENING))
