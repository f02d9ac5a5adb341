"""tapegrad.optim: optimizers and schedules (in progress, see issue 6)."""
