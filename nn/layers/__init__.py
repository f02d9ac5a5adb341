"""Layer modules (``nn.Linear``, ``nn.Conv2d``, ...), one file per family."""
