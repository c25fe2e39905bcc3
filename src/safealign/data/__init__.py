"""Data layer: typed records, adapters for the public schemas, readers/writers, and the bundled demo data.

    from safealign.data import load_records, load_safety_pairs, load_prompts, write_jsonl
    from safealign.data.demo import load_demo
"""

from .io import (
    LoadResult,
    load_prompts,
    load_records,
    load_rubric_items,
    load_safety_pairs,
    load_system_examples,
    load_system_pairs,
    summarize,
    write_jsonl,
)
from .records import (
    CONSTRAINT_TYPES,
    Preference,
    PromptRecord,
    Record,
    Rubric,
    RubricItem,
    SafetyPair,
    SystemExample,
    SystemPair,
    record_to_dict,
)

__all__ = [
    "CONSTRAINT_TYPES", "LoadResult", "Preference", "PromptRecord", "Record", "Rubric", "RubricItem", "SafetyPair",
    "SystemExample", "SystemPair", "load_prompts", "load_records", "load_rubric_items", "load_safety_pairs",
    "load_system_examples", "load_system_pairs", "record_to_dict", "summarize", "write_jsonl",
]
