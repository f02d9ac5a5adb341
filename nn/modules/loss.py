"""``torch.nn.modules.loss``'s classes, where tapegrad keeps them."""
from ..layers.loss import BCELoss, BCEWithLogitsLoss, CosineEmbeddingLoss, CrossEntropyLoss, HuberLoss, KLDivLoss, L1Loss, MSELoss, MultiMarginLoss, NLLLoss, SmoothL1Loss, _Loss, _WeightedLoss  # noqa: F401
from ..layers.loss_more import CTCLoss, GaussianNLLLoss, HingeEmbeddingLoss, LinearCrossEntropyLoss, MarginRankingLoss, MultiLabelMarginLoss, MultiLabelSoftMarginLoss, PoissonNLLLoss, SoftMarginLoss, TripletMarginLoss, TripletMarginWithDistanceLoss  # noqa: F401
