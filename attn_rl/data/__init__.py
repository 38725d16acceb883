"""Data: tfds sources and splits, synthetic canvases and images, and the batching over them."""
