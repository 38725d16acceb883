"""RAM (Mnih et al., "Recurrent Models of Visual Attention", NIPS 2014)."""
