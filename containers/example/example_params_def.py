"""The example model's own parameters, one list per stage, in improvelib's definition format.

improvelib adds its standard ones (input_dir, output_dir, epochs, learning_rate, batch_size,
...); these are the rest. Command-line flags override example_default.cfg.
"""

from improvelib.utils import str2bool

preprocess_params = [
    {"name": "feature_scaling", "type": str, "default": "standard",
     "choices": ["standard", "minmax"],
     "help": "How features are scaled, with statistics of the training split."},
]

train_params = [
    {"name": "hidden_units", "type": int, "default": 32,
     "help": "Units in each hidden layer."},
    {"name": "num_layers", "type": int, "default": 1, "help": "Number of hidden layers."},
    {"name": "activation", "type": str, "default": "relu",
     "choices": ["relu", "tanh", "logistic"], "help": "Hidden-layer activation."},
    {"name": "alpha", "type": float, "default": 1e-4, "help": "L2 penalty."},
    {"name": "early_stop", "type": str2bool, "default": False,
     "help": "Stop when an internal validation fraction stops improving (uses patience)."},
    {"name": "seed", "type": int, "default": 0, "help": "Random seed of the network."},
]

infer_params = []
