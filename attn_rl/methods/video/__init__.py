"""REINFORCE attention over video feature cubes (action recognition), its soft-attention
baseline and a no-attention LSTM: docs/video.md."""
