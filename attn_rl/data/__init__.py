"""Data: tfds sources, synthetic translated/cluttered canvases, grain pipelines."""
