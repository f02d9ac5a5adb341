"""tapegrad's data loading (``torch.utils.data`` + torchvision-style data sets).

``from autograd.data import DataLoader, TensorDataset, MNIST``.  Image data sets
return float32 images (C, H, W) scaled to [0, 1] and int64 labels; transforms work
on one image or on a batch (see transforms.py).  ``DataLoader(num_workers=N)`` reads
batches in worker processes (see workers.py).
"""
from . import transforms
from .cifar import CIFAR10
from .dataset import ConcatDataset, DataFileError, Dataset, Subset, TensorDataset, random_split
from .distributed import DistributedSampler
from .idx import read_idx
from .loader import DataLoader, default_collate
from .mnist import MNIST, FashionMNIST
from .sampler import (BatchSampler, RandomSampler, Sampler, SequentialSampler, SubsetRandomSampler,
                      WeightedRandomSampler)
from .spiral import make_spiral, spiral
from .workers import WorkerInfo, get_worker_info

__all__ = ["Dataset", "TensorDataset", "Subset", "ConcatDataset", "random_split", "DataLoader",
           "DistributedSampler", "default_collate", "DataFileError", "read_idx", "MNIST",
           "FashionMNIST", "CIFAR10", "spiral", "make_spiral", "transforms", "get_worker_info",
           "WorkerInfo", "Sampler", "SequentialSampler", "RandomSampler", "SubsetRandomSampler",
           "WeightedRandomSampler", "BatchSampler"]
