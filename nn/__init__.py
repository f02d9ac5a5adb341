"""tapegrad.nn: a torch.nn-like module system (in progress, see issue 5)."""
