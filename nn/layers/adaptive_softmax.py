"""AdaptiveLogSoftmaxWithLoss (Grave et al., "Efficient softmax approximation for GPUs"):
a head over the shortlist classes plus one entry per cluster, and per cluster a
two-layer tail projection; log p(c) = head_logprob[cluster(c)] + tail_logprob[c] for c
past the shortlist.  Parameters, their names and initialisation are PyTorch's."""
from collections import namedtuple

import numpy as np

import autograd as ag

from .. import functional as F
from ..containers import ModuleList, Sequential
from ..module import Module
from .linear import Linear

_ASMoutput = namedtuple("_ASMoutput", ["output", "loss"])


class AdaptiveLogSoftmaxWithLoss(Module):
    def __init__(self, in_features, n_classes, cutoffs, div_value=4.0, head_bias=False, device=None,
                 dtype=None):
        super().__init__()
        cutoffs = list(cutoffs)
        if not cutoffs:
            raise ValueError("AdaptiveLogSoftmaxWithLoss: cutoffs should be a sequence of length larger than 0")
        if (cutoffs != sorted(cutoffs) or min(cutoffs) <= 0 or max(cutoffs) > n_classes - 1
                or len(set(cutoffs)) != len(cutoffs) or any(int(c) != c for c in cutoffs)):
            raise ValueError("AdaptiveLogSoftmaxWithLoss: cutoffs should be a sequence of unique, positive "
                             "integers sorted in an increasing order, where each value is between 1 and "
                             f"n_classes-1, got {cutoffs} for n_classes={n_classes}")
        self.in_features, self.n_classes = in_features, n_classes
        self.cutoffs = cutoffs + [n_classes]
        self.div_value, self.head_bias = div_value, head_bias
        self.shortlist_size = self.cutoffs[0]
        self.n_clusters = len(self.cutoffs) - 1
        self.head_size = self.shortlist_size + self.n_clusters
        self.head = Linear(in_features, self.head_size, bias=head_bias, dtype=dtype)
        self.tail = ModuleList()
        for i in range(self.n_clusters):
            hidden = int(in_features // (div_value ** (i + 1)))
            self.tail.append(Sequential(Linear(in_features, hidden, bias=False, dtype=dtype),
                                        Linear(hidden, self.cutoffs[i + 1] - self.cutoffs[i], bias=False,
                                               dtype=dtype)))

    def reset_parameters(self):
        self.head.reset_parameters()
        for i2h, h2o in self.tail:
            i2h.reset_parameters()
            h2o.reset_parameters()

    def forward(self, input_, target_):
        """(output, loss): each target's log-probability (N,) and the mean NLL."""
        name = "AdaptiveLogSoftmaxWithLoss"
        t = np.asarray(target_.array if isinstance(target_, ag.Tensor) else target_)
        if t.ndim == 1 and (input_.ndim != 2 or input_.shape[0] != t.shape[0]):
            raise ValueError(f"{name}: a 1-D target of {t.shape[0]} expects input (N, in_features) with "
                             f"the same N, got {tuple(input_.shape)}")
        if t.ndim == 0 and input_.ndim != 1:
            raise ValueError(f"{name}: a 0-D target expects 1-D input, got {tuple(input_.shape)}")
        if t.ndim > 1:
            raise ValueError(f"{name}: 0-D or 1-D target expected, multi-target not supported")
        if t.size and (t.min() < 0 or t.max() >= self.n_classes):
            raise ValueError(f"{name}: target values should be in [0, {self.n_classes - 1}], but values in "
                             f"range [{t.min()}, {t.max()}] were found")
        batched = t.ndim > 0
        x = input_ if batched else input_.unsqueeze(0)
        t = t.reshape(-1).astype(np.int64)
        head_index = np.minimum(t, self.shortlist_size)   # shortlist class, or its cluster's entry
        output = ag.zeros(len(t), dtype=x.dtype)
        for i, (low, high) in enumerate(zip(self.cutoffs, self.cutoffs[1:])):
            rows = np.nonzero((t >= low) & (t < high))[0]
            head_index[rows] = self.shortlist_size + i
            if rows.size:
                cluster_logprob = F.log_softmax(self.tail[i](x[rows]), dim=1)
                local = cluster_logprob.gather(1, ag.tensor((t[rows] - low)[:, None])).reshape(-1)
                output = output.index_add(0, ag.tensor(rows), local)
        head_logprob = F.log_softmax(self.head(x), dim=1)
        output = output + head_logprob.gather(1, ag.tensor(head_index[:, None])).reshape(-1)
        loss = (-output).mean()
        return _ASMoutput(output if batched else output.reshape(()), loss)

    def _get_full_log_prob(self, input, head_output):
        head_logprob = F.log_softmax(head_output, dim=1)
        parts = [head_logprob[:, :self.shortlist_size]]
        for i in range(self.n_clusters):
            cluster_logprob = F.log_softmax(self.tail[i](input), dim=1)
            parts.append(cluster_logprob + head_logprob[:, self.shortlist_size + i:self.shortlist_size + i + 1])
        return ag.cat(parts, 1)

    def log_prob(self, input):
        """Log-probabilities of all n_classes (N, n_classes)."""
        return self._get_full_log_prob(input, self.head(input))

    def predict(self, input):
        """The most probable class per row: log_prob(input).argmax(1), computing the tails
        only for rows whose head's best entry is a cluster."""
        head_output = self.head(input)
        output = head_output.array.argmax(1)
        outside = output >= self.shortlist_size
        if outside.any():
            rows = np.nonzero(outside)[0]
            output[rows] = self._get_full_log_prob(input[rows], head_output[rows]).array.argmax(1)
        return ag.tensor(output)
