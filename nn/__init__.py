"""tapegrad.nn: a torch.nn-like module system over the autograd engine.

``import nn; import nn.functional as F`` -- names, argument names, defaults and
state_dict keys follow PyTorch, so a model written for PyTorch ports by changing
imports.  Model zoo in ``nn.models``.
"""
from . import functional, init, models, modules, utils
from .containers import (Flatten, Identity, ModuleDict, ModuleList, ParameterDict,
                         ParameterList, Sequential, Unflatten)
from .layers.activation import (ELU, GELU, Hardtanh, LeakyReLU, LogSigmoid, LogSoftmax, Mish,
                                PReLU, ReLU, ReLU6, SiLU, Sigmoid, Softmax, Softmin, Softplus,
                                Softsign, Swish, Tanh, Tanhshrink)
from .layers.activation import (CELU, GLU, SELU, Hardshrink, Hardsigmoid, Hardswish, RReLU,
                                Softmax2d, Softshrink, Threshold)
from .layers.conv import Conv1d, Conv2d, ConvTranspose2d
from .layers.dropout import AlphaDropout, Dropout, Dropout1d, Dropout2d
from .layers.linear import Bilinear, Embedding, Linear
from .layers.loss import (BCELoss, BCEWithLogitsLoss, CosineEmbeddingLoss, CrossEntropyLoss,
                          HuberLoss, KLDivLoss, L1Loss, MSELoss, MultiMarginLoss, NLLLoss,
                          SmoothL1Loss)
from .layers.normalization import (BatchNorm1d, BatchNorm2d, GroupNorm, InstanceNorm2d,
                                   LayerNorm, LocalContrastNorm, LocalResponseNorm)
from .layers.pooling import (AdaptiveAvgPool2d, AdaptiveMaxPool2d, AvgPool2d, LPPool2d,
                             MaxPool1d, MaxPool2d, Upsample)
from .layers.loss_more import (CTCLoss, GaussianNLLLoss, HingeEmbeddingLoss, LinearCrossEntropyLoss,
                               MarginRankingLoss, MultiLabelMarginLoss, MultiLabelSoftMarginLoss,
                               PoissonNLLLoss, SoftMarginLoss, TripletMarginLoss,
                               TripletMarginWithDistanceLoss)
from .layers.adaptive_softmax import AdaptiveLogSoftmaxWithLoss
from .layers.distance import CosineSimilarity, PairwiseDistance
from .layers.embedding_bag import EmbeddingBag
from .layers.rms_norm import RMSNorm
from .layers.conv_nd import Conv3d, ConvTranspose1d, ConvTranspose3d, Fold, Unfold
from .layers.dropout import Dropout3d, FeatureAlphaDropout
from .layers.normalization_nd import BatchNorm3d, CrossMapLRN2d, InstanceNorm1d, InstanceNorm3d
from .layers.padding import (CircularPad1d, CircularPad2d, CircularPad3d, ConstantPad1d,
                             ConstantPad2d, ConstantPad3d, ReflectionPad1d, ReflectionPad2d,
                             ReflectionPad3d, ReplicationPad1d, ReplicationPad2d,
                             ReplicationPad3d, ZeroPad1d, ZeroPad2d, ZeroPad3d)
from .layers.pooling_nd import (AdaptiveAvgPool1d, AdaptiveAvgPool3d, AdaptiveMaxPool1d,
                                AdaptiveMaxPool3d, AvgPool1d, AvgPool3d, LPPool1d, LPPool3d,
                                MaxPool3d)
from .layers.upsampling import (ChannelShuffle, PixelShuffle, PixelUnshuffle,
                                UpsamplingBilinear2d, UpsamplingNearest2d)
from .layers.unpooling import (FractionalMaxPool2d, FractionalMaxPool3d, MaxUnpool1d, MaxUnpool2d,
                               MaxUnpool3d)
from .layers.rnn import GRU, GRUCell, LSTM, LSTMCell, RNN, RNNBase, RNNCell, RNNCellBase
from .layers.transformer import (MultiheadAttention, Transformer, TransformerDecoder,
                                 TransformerDecoderLayer, TransformerEncoder,
                                 TransformerEncoderLayer)
from .module import Module, RemovableHandle
from .monitor import Monitor
from .parameter import Buffer, Parameter
from .parallel import DataParallel
from autograd.serialization import CheckpointError, load, save  # noqa: F401  (nn.save, as before)
