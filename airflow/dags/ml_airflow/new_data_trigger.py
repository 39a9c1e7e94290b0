"""The asset watcher's trigger: poll ML_NEW_DATA_PREFIX, fire one event per listing with its new files.

It runs in the triggerer (event-driven scheduling, `ml_new_data.py`), so it only lists the store:
which objects count, their run keys and the event's content are ml's (`ml.data.new_data`; why one
event per listing and not per file: `batch_payload`). The listing is blocking minio
I/O, so it runs in a thread, never on the triggerer's event loop. What it fired is remembered
for the life of the trigger only: after a triggerer restart it fires the existing files again,
and the training runs' deterministic ids (`ml_new_data.py`) keep those from training twice.

It lives in the DAG folder (kept out of parsing by `.airflowignore`); the triggerer imports it
by its class path, so compose puts the DAG folder on the Airflow containers' PYTHONPATH.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseEventTrigger, TriggerEvent

log = logging.getLogger(__name__)


class NewTrainingDataTrigger(BaseEventTrigger):
    """Every `poll_interval` seconds, one event naming the training files under `prefix` not yet fired
    (but those under `exclude`: other models' prefixes nested in this one, `ml.data.new_data.watches`)."""

    def __init__(self, prefix: str, poll_interval: float, exclude: list[str] | tuple[str, ...] = ()) -> None:
        super().__init__()
        self.prefix = prefix
        self.poll_interval = poll_interval
        self.exclude = list(exclude)

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (f"{type(self).__module__}.{type(self).__qualname__}",
                {"prefix": self.prefix, "poll_interval": self.poll_interval, "exclude": self.exclude})

    async def run(self) -> AsyncIterator[TriggerEvent]:
        from ml.core.errors import BadInputError, TransientError
        from ml.data.new_data import batch_payload, training_objects, unseen

        fired: set[str] = set()
        while True:
            try:
                objects = await asyncio.to_thread(training_objects, self.prefix, self.exclude)
            except (BadInputError, TransientError) as exc:
                # The watcher outlives an outage or a missing bucket: report it, poll again later.
                log.error("cannot list %s: %s; next try in %ss", self.prefix, exc, self.poll_interval)
                objects = None
            new = unseen(objects or [], fired)
            if new:
                fired.update(obj.run_key for obj in new)
                yield TriggerEvent(batch_payload(new))
            await asyncio.sleep(self.poll_interval)
