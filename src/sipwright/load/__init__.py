"""Load generation: call scheduling, workers, statistics."""
