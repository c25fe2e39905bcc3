"""The tiny models of real families moved to :mod:`safealign.models.families` (the dry runs use them); this name is
kept for the tests and helpers that import it from here."""

from safealign.models.families import (  # noqa: F401 - re-exported
    IMAGE_SIZE,
    PATCH_SIZE,
    QWEN_PATCH_SIZE,
    family_names,
    family_of,
    fixtures_dir,
    is_vision,
    load_family,
    tiny_image,
    tiny_model,
    tiny_processor,
    tiny_tokenizer,
    token_id,
)
