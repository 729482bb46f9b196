"""viz: diagrams of recorded tinygrad_rnn graphs (forward, backward and rolled views)."""
