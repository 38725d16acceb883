"""Models: glimpse sensor and RAM networks (Flax Linen) and their functional unroll."""
