"""Sweep spec -> validated trainings -> self-contained run folder -> HTCondor (or local) jobs."""
