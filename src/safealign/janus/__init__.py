"""Janus: aligning a model to the user's system message.

Modules: ``taxonomy`` (the preference taxonomy, ``taxonomy.yaml``, and ``verbalize``), ``synthesize`` (system
messages and answers written by a teacher, resumable), ``adherence`` (judge-free checks of a system message's
verifiable constraints), ``data`` (reading instructions, Multifaceted-Collection / -DPO rows and Multifaceted-Bench
items), ``rubric`` (Multifaceted-Bench rubric grading by a judge model) and ``recipes`` (SFT / DPO / ORPO configs and
training, run by TRL through :mod:`safealign.train.trl_runner`). Import from the submodules: ``import safealign.janus``
stays light.
"""
