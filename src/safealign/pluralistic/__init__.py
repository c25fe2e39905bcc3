"""Pluralistic alignment (Janus): preference taxonomy, system-message synthesis, judge-free adherence checks and
system-message attacks.

Public API (import from the submodules to keep ``import safealign.pluralistic`` light):
``taxonomy.load_taxonomy``, ``taxonomy.verbalize``, ``synthesize.synthesize``, ``adherence.check_adherence``,
``adherence.adherence_score``, ``attacks.build_attack_set``, ``attacks.attack_training_pairs``.
"""
