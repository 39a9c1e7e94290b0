"""What every part of `ml` stands on: settings, errors, logging, retries, storage, run workspaces.

Nothing here knows about models, pipelines or orchestrators.
"""
