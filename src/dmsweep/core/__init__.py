"""The shared core of dmsweep: what the trainer, `run_builder` and `aggregate` all need.

Nothing here imports TensorFlow, `run_builder`, `aggregate` or `train`: the wings build on
the core, never on each other (tests/test_imports.py checks the import graph).
"""
