"""`fdvla study`: the paper's comparison, replicated in the simulated cell."""
