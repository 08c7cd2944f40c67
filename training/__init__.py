"""Training loops, W&B logging and sweeps (asyncsim.training)."""
