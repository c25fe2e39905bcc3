"""Recipes that chain trainers and judges: the Safe RLHF recipe (``safealign train safe-rlhf``)."""
