"""The guard's harm categories and a mapping from every public dataset's category names onto them.

BeaverTails (14), BeaverTails-V (20), PKU-SafeRLHF (19), the Safe RLHF red-team set (8), HarmBench and
SimpleSafetyTests all name harms differently; the guard predicts one compact multi-label set. A source name maps
to every canonical category whose keywords it contains ("drug_abuse,weapons,banned_substance" -> weapons_drugs).
"""

from __future__ import annotations

import re

# canonical name -> (description, keywords matched against the lower-cased source name)
CATEGORIES: dict[str, tuple[str, tuple[str, ...]]] = {
    "violence": (
        "violence, physical harm, incitement",
        ("violen", "physical harm", "physical_harm", "aiding_and_abetting", "incitement", "gore", "dangerous_behavior"),
    ),
    "weapons_drugs": (
        "weapons, drugs, dangerous or regulated substances",
        ("weapon", "drug", "banned_substance", "chemical", "biological", "regulated", "public health"),
    ),
    "self_harm": ("suicide, self-harm, eating disorders", ("self_harm", "self-harm", "suicide", "eating disorder")),
    "sexual": ("sexual or adult content", ("sexual", "porn", "adult_content", "adult content")),
    "child_safety": ("child abuse and child safety", ("child",)),
    "hate": ("hate, discrimination, bias", ("hate", "discriminat", "stereotype", "bias", "injustice")),
    "harassment": ("insults, harassment, bullying", ("insult", "harass", "bully", "offensive")),
    "crime_fraud": (
        "fraud, scams, theft, financial crime",
        (
            "fraud", "scam", "theft", "financial", "economic", "white-collar", "property_crime", "crime", "illegal",
            "trafficking",
        ),
    ),
    "cybercrime": ("hacking and cybercrime", ("cyber", "hack", "intrusion", "digital_crime")),
    "privacy": (
        "privacy violations, surveillance, doxxing",
        ("privacy", "surveillance", "identity", "sensitive_information"),
    ),
    "misinformation": (
        "misinformation and disinformation",
        ("misinformation", "disinformation", "false_information", "controversial", "politic"),
    ),
    "extremism": (
        "terrorism, organised crime, extremism",
        ("terror", "extrem", "organized_crime", "national security", "public order"),
    ),
    "animal_abuse": ("animal abuse", ("animal",)),
    "manipulation": (
        "deception, manipulation, psychological harm, unethical behaviour",
        ("unethical", "immoral", "manipulat", "psycholog", "deception", "emotional harm", "horror"),
    ),
    "copyright": ("copyright infringement", ("copyright",)),
    "environment": ("environmental damage", ("environment",)),
}
CATEGORY_NAMES: list[str] = list(CATEGORIES)

# Prior severity of a harmful PROMPT by category (1 minor, 2 moderate, 3 severe), used to label prompt lists that
# carry categories but no severity. Graded labels in the data (PKU-SafeRLHF, BeaverTails-V) always win.
CATEGORY_SEVERITY: dict[str, int] = {
    "violence": 3,
    "weapons_drugs": 3,
    "self_harm": 3,
    "sexual": 2,
    "child_safety": 3,
    "hate": 2,
    "harassment": 1,
    "crime_fraud": 2,
    "cybercrime": 2,
    "privacy": 2,
    "misinformation": 1,
    "extremism": 3,
    "animal_abuse": 2,
    "manipulation": 1,
    "copyright": 1,
    "environment": 2,
}


def _norm(name: str) -> str:
    return re.sub(r"\s+", " ", name.strip().lower())


def canonical_categories(name: str | None) -> list[str]:
    """Canonical categories for a source category name (possibly several; empty if nothing matches)."""
    if not name:
        return []
    n = _norm(name)
    if n in CATEGORIES:
        return [n]
    found = [c for c, (_, keys) in CATEGORIES.items() if any(k in n or k.replace("_", " ") in n for k in keys)]
    if ("non_violent" in n or "non-violent" in n) and "violence" in found:
        found.remove("violence")
    # "crime" is a catch-all keyword: drop it when a more specific crime category matched
    if (
        "crime_fraud" in found
        and any(c in found for c in ("cybercrime", "extremism"))
        and not any(k in n for k in ("fraud", "scam", "theft", "financial", "economic"))
    ):
        found.remove("crime_fraud")
    return found


def prior_severity(categories: list[str]) -> int:
    return max((CATEGORY_SEVERITY.get(c, 2) for c in categories), default=2)
