"""A configurable multi-layer perceptron (Rumelhart, Hinton & Williams, 1986,
"Learning representations by back-propagating errors")."""
from ..containers import Flatten, Sequential
from ..layers.activation import ReLU
from ..layers.dropout import Dropout
from ..layers.linear import Linear


class MLP(Sequential):
    """Flatten -> [Linear -> activation -> Dropout(p)] per hidden width -> Linear.
    ``activation`` is a Module class (or factory); dropout 0 adds no Dropout layers."""

    def __init__(self, in_features, hidden_features, out_features, activation=ReLU, dropout=0.0,
                 bias=True, flatten=True):
        layers = [Flatten()] if flatten else []
        width = in_features
        for h in hidden_features:
            layers += [Linear(width, h, bias=bias), activation()]
            if dropout > 0:
                layers.append(Dropout(dropout))
            width = h
        layers.append(Linear(width, out_features, bias=bias))
        super().__init__(*layers)
