"""The GraphQL queries that `DagsterGraphQLClient` has no method for (sent with its `_execute`)."""

RUN_QUERY = """
query RunStatus($runId: ID!) {
  runOrError(runId: $runId) {
    __typename
    ... on Run {
      runId status startTime endTime
      stepStats { stepKey status startTime endTime }
      assetMaterializations {
        assetKey { path }
        stepKey
        metadataEntries {
          __typename label
          ... on TextMetadataEntry { text }
          ... on IntMetadataEntry { intValue }
          ... on FloatMetadataEntry { floatValue }
          ... on BoolMetadataEntry { boolValue }
          ... on JsonMetadataEntry { jsonString }
          ... on UrlMetadataEntry { url }
          ... on PathMetadataEntry { path }
          ... on MarkdownMetadataEntry { mdStr }
        }
      }
    }
    ... on RunNotFoundError { message }
    ... on PythonError { message }
  }
}
"""

RUN_EVENTS_QUERY = """
query RunFailures($runId: ID!) {
  logsForRun(runId: $runId, limit: 5000) {
    __typename
    ... on EventConnection {
      events {
        __typename
        ... on MessageEvent { message stepKey }
        ... on ExecutionStepFailureEvent { stepKey error { message causes { message } } }
        ... on RunFailureEvent { message }
        ... on AssetCheckEvaluationEvent {
          stepKey
          evaluation {
            checkName success description assetKey { path }
            metadataEntries {
              __typename label
              ... on TextMetadataEntry { text }
              ... on JsonMetadataEntry { jsonString }
            }
          }
        }
      }
    }
    ... on PythonError { message }
  }
}
"""

REPOSITORIES_QUERY = """
query Repositories {
  repositoriesOrError {
    __typename
    ... on RepositoryConnection {
      nodes { name location { name } jobs { name } }
    }
    ... on PythonError { message }
  }
}
"""

LAUNCH_BACKFILL_MUTATION = """
mutation LaunchBackfill($backfillParams: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $backfillParams) {
    __typename
    ... on LaunchBackfillSuccess { backfillId }
    ... on Error { message }
  }
}
"""

BACKFILL_QUERY = """
query Backfill($backfillId: String!) {
  partitionBackfillOrError(backfillId: $backfillId) {
    __typename
    ... on PartitionBackfill {
      id status partitionNames
      runs { runId status tags { key value } }
      error { message }
    }
    ... on Error { message }
  }
}
"""

RUNS_BY_TAG_QUERY = """
query RunsByTag($key: String!, $value: String!) {
  runsOrError(filter: {tags: [{key: $key, value: $value}]}, limit: 1) {
    __typename
    ... on Runs { results { runId } }
    ... on PythonError { message }
  }
}
"""
