"""One model, one task: a training run on another task's data is refused before it trains.

Why before: a version of another task (labels, text and label columns) is never promoted
automatically (`ml.lifecycle.champion`, rule 1), so inference would go on with the old task's
champion and label the new data with the old labels while both runs exit 0. The refusal names the
two ways out: a model of its own (`--model-name`, a catalog entry), or `--new-task` to change the
model's task on purpose.
"""

from __future__ import annotations

from ml.core.config import Settings
from ml.core.errors import BadInputError
from ml.lifecycle.champion import describe_signature, read_state, task_signature


def check_task(settings: Settings, labels: list[str], dataset_uri: str, *, new_task: bool = False) -> None:
    """Refuse, before training, a dataset of another task than the model's (rule 1), unless `new_task`.

    Why before: a version of another task is never promoted automatically, so inference would go on
    with the old task's champion and label the new data with the old labels, and both runs would exit 0.
    """
    ours = task_signature(labels, settings.text_column, settings.label_column)
    state = read_state(settings)
    task = state.task(settings.promotion_metric)
    if new_task or task is None or ours == task:
        return
    name = settings.model_name
    raise BadInputError(
        f"{dataset_uri} is another task than model {name!r}: it has {describe_signature(ours)}, {name!r} answers "
        f"{describe_signature(task)} (champion v{state.champion or '-'}); train it as a model of its own "
        f"(--model-name <name>, or make train MODEL=<name> with a catalog entry), or pass --new-task "
        f"(make train PARAMS=new_task=true) to change the task of {name!r} on purpose")
