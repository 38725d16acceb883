"""Methods: one folder each (config, model, steps, pictures, paper rows), on `attn_rl.core`."""
