"""The model zoo: each model is built only from ``nn`` layers and cites its paper."""
from .alexnet import AlexNet
from .lenet import LeNet5
from .mlp import MLP
from .multiview import MultiViewCNN
from .resnet import BasicBlock, Bottleneck, ResNet, resnet18, resnet34, resnet50
from .unet import UNet
from .vgg import VGG, vgg11, vgg11_bn, vgg16, vgg16_bn
from .vit import VisionTransformer, vit_b_16, vit_small, vit_tiny
