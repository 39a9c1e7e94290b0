"""The pipeline steps: the only functions runners call (each is a `python -m ml <step>` command).

Every step takes keyword arguments (URIs, ids, small scalars) and returns a small JSON-able
dict; which steps make a pipeline, in what order and fed by which outputs is declared once in
`ml/pipelines/spec.py`. `training` holds the training steps, `inference` the inference steps.
"""

from ml.steps.inference import load_inference_data, load_model, predict, save_predictions
from ml.steps.training import evaluate, load_training_data, promote, register, train

__all__ = ["evaluate", "load_inference_data", "load_model", "load_training_data", "predict", "promote",
           "register", "save_predictions", "train"]
