from genlab.callbacks.sample_grid import SampleGrid

__all__ = ["SampleGrid"]
