"""The simulator behind `recovery simulate`: a seeded cohort of customers and support agents driven
through the running system, with the journeys it predicts from the workflow's own rules."""

from simulator.command import SimulateOptions, run_simulation

__all__ = ["SimulateOptions", "run_simulation"]
