"""tapegrad.optim: optimizers and learning-rate schedules with PyTorch's names,
defaults and update rules (``optim.SGD(model.parameters(), lr=0.1)``)."""
from . import lr_scheduler
from .adagrad import Adagrad
from .adam import Adam, AdamW
from .lbfgs import LBFGS
from .optimizer import Optimizer
from .rmsprop import RMSprop
from .sgd import SGD

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "Adagrad", "RMSprop", "LBFGS", "lr_scheduler"]
