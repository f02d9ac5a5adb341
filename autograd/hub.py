"""``torch.hub`` as far as an offline CPU library goes: there is no hub to reach."""


def _unavailable(*args, **kwargs):
    raise RuntimeError("hub: tapegrad has no model hub and reads nothing from the network; "
                       "build the model from nn.models and load its weights with nn.load")


load = list = help = load_state_dict_from_url = _unavailable
