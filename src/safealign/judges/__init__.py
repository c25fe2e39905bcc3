"""Judges that need no model: pure functions of the text (the refusal detector). They sit low in the stack so that
data collection, the trainers, pluralistic safety and the evaluation can all use them."""
