"""Trainers: orchestration only; every formula lives in safealign.losses."""
