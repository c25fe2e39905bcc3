"""Pluralistic safe RLHF: where Janus system messages meet Safe RLHF-V's reward and cost models.

Modules: ``conditioned`` (the system-message-conditioned reward pairs, attack-augmented cost pairs, the attack
framings and PPO prompt sets), ``attacks`` (harmful prompts under attack system messages: the attack set, styled
refusals as training pairs, safety under attack) and ``tradeoff`` (adherence vs safety across methods, its table, plot
and claim check). Janus itself (taxonomy, synthesis, adherence, rubric, recipes) lives in :mod:`safealign.janus`.
"""
