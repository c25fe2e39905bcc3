"""Typed records: the one in-memory form every adapter produces and every stage consumes.

Severity levels: 0 safe, 1 minor, 2 moderate, 3 severe. Response indices are 0-based.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal, Optional

SEVERITY_NAMES = {0: "safe", 1: "minor", 2: "moderate", 3: "severe"}
# The machine-checkable system-message constraint types (SystemPair/SystemExample.constraints[i]["type"]):
# the names of the constraint families of safealign.janus.families (a test keeps the two lists equal; the data
# layer sits below janus, so it cannot ask the registry).
CONSTRAINT_TYPES = (
    "max_words", "min_words", "word_range", "max_sentences", "exact_sentences", "bullet_count", "numbered_list",
    "bullet_style", "numbered_steps", "paragraph_count", "sections", "title_case_headings", "separator_lines",
    "title_brackets", "json_output", "json_array", "yaml_output", "csv_output", "wrap_in_quotes", "markdown_table",
    "code_block", "all_lowercase", "all_uppercase", "caps_words", "required_words", "forbidden_words", "word_repeat",
    "letter_frequency", "quotation_count", "placeholders", "highlights", "starts_with", "ends_with", "first_word",
    "greeting", "end_with_question", "postscript", "language", "ascii_only", "no_commas", "no_exclamation",
    "no_digits", "min_numbers", "exclamation_count",
)
Label = Literal["harmful", "benign"]
LABELS: tuple[str, ...] = ("harmful", "benign")  # the values of Label, for checks at run time


@dataclass
class SafetyPair:
    """A dual preference pair (Safe RLHF / Safe RLHF-V): which response is more helpful and which is safer."""

    prompt: str
    responses: tuple[str, str]
    better: int  # index (0/1) of the more helpful response
    safer: int  # index (0/1) of the safer response
    is_safe: tuple[bool, bool]
    severity: tuple[int, int] = (0, 0)
    categories: tuple[list[str], list[str]] = field(default_factory=lambda: ([], []))
    system: Optional[str] = None
    images: list[Any] = field(default_factory=list)  # PIL images
    prompt_category: Optional[str] = None  # the category of the prompt itself (BeaverTails-V config), if known
    id: Optional[str] = None

    @property
    def worse(self) -> int:
        return 1 - self.better

    @property
    def less_safe(self) -> int:
        return 1 - self.safer

    @property
    def image(self) -> Any:
        return self.images[0] if self.images else None

    def is_contradictory(self) -> bool:
        """The safer response is labelled unsafe while the other one is labelled safe."""
        return (not self.is_safe[self.safer]) and self.is_safe[1 - self.safer]


@dataclass
class Preference:
    """One node of the Janus taxonomy: dimension -> subdimension -> preference (label + description)."""

    dimension: str
    subdimension: str
    preference: str
    description: str = ""


@dataclass
class SystemPair:
    """A system-message preference pair (Janus DPO/ORPO): chosen fits this system message, rejected fits another."""

    system: str
    prompt: str
    chosen: str
    rejected: str
    preference_set: list[Preference] = field(default_factory=list)
    id: Optional[str] = None
    main_source: Optional[str] = None
    # Machine-checkable constraints of the system message, e.g. [{"type": "max_words", "value": 50}]; the types are
    # CONSTRAINT_TYPES above (the constraint families of safealign.janus.families).
    constraints: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class SystemExample:
    """A system-message SFT example (Multifaceted-Collection)."""

    system: str
    prompt: str
    response: str
    preference_set: list[Preference] = field(default_factory=list)
    id: Optional[str] = None
    main_source: Optional[str] = None
    constraints: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class PromptRecord:
    """A prompt for RL rollouts or evaluation."""

    prompt: str
    system: Optional[str] = None
    image: Any = None  # PIL image
    category: Optional[str] = None
    label: Optional[Label] = None  # harmful / benign
    id: Optional[str] = None


@dataclass
class Rubric:
    criteria: str
    score_descriptions: dict[int, str]  # 1..5


@dataclass
class RubricItem:
    """A Multifaceted-Bench item: graded 1-5 per rubric against a reference answer."""

    system: str
    prompt: str
    reference_answer: str
    rubrics: list[Rubric]
    preference_set: list[Preference] = field(default_factory=list)
    id: Optional[str] = None


Record = SafetyPair | SystemPair | SystemExample | PromptRecord | RubricItem


def record_to_dict(rec: Record) -> dict[str, Any]:
    """JSON-friendly dict (images dropped; callers that need them keep the record)."""
    d = asdict(rec)
    d.pop("images", None)
    if "image" in d:
        d["image"] = None if d["image"] is None else "<image>"
    return d
