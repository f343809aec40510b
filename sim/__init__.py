"""caresim's engine room: config, population, randomness, engines, measures, experiments."""

__version__ = "0.1.0"
