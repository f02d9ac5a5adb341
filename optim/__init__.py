"""tapegrad.optim: optimizers and learning-rate schedules with PyTorch's names,
defaults and update rules (``optim.SGD(model.parameters(), lr=0.1)``)."""
from . import lr_scheduler
from .adadelta import Adadelta
from .adagrad import Adagrad
from .adam import Adam, AdamW
from .adam_variants import Adamax, NAdam, RAdam
from .lbfgs import LBFGS
from .optimizer import Optimizer
from .rmsprop import RMSprop
from .sgd import SGD

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "Adagrad", "Adadelta", "Adamax", "NAdam", "RAdam",
           "RMSprop", "LBFGS", "lr_scheduler"]
