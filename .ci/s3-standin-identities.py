#!/usr/bin/env python3
"""The MinIO policies (docker/minio/policies/NAME.json) as SeaweedFS S3 identities: one truth for both stores.

Each policy NAME belongs to the user S3_<NAME>_USER / S3_<NAME>_PASSWORD of the environment (as
docker/minio/users.sh attaches it in MinIO); the root user (MINIO_ROOT_USER / MINIO_ROOT_PASSWORD)
is the admin. SeaweedFS grants actions per bucket, so every allowed S3 action on `bucket` or
`bucket/prefix*` becomes Read, List or Write on that bucket: the project's policies are per bucket,
and the MinIO policy is the stricter of the two should one ever name a prefix.
Usage: s3-standin-identities.py POLICY_DIR > s3.json
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

#: S3 actions -> SeaweedFS action words.
ACTIONS = {
    "s3:GetObject": "Read", "s3:GetBucketLocation": "List", "s3:ListBucket": "List",
    "s3:ListBucketMultipartUploads": "List", "s3:ListMultipartUploadParts": "Write",
    "s3:PutObject": "Write", "s3:DeleteObject": "Write", "s3:AbortMultipartUpload": "Write",
    "s3:*": "Read Write List Tagging",
}


def actions(policy: dict) -> list[str]:
    granted: set[str] = set()
    for statement in policy["Statement"]:
        if statement.get("Effect") != "Allow":
            continue
        resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        buckets = {r.removeprefix("arn:aws:s3:::").split("/", 1)[0] for r in resources}
        names = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        for name in names:
            if name not in ACTIONS:
                sys.exit(f"error: {name} has no SeaweedFS equivalent; add it to ACTIONS in {__file__}")
            granted |= {f"{word}:{bucket}" for word in ACTIONS[name].split() for bucket in buckets}
    return sorted(granted)


def main(folder: str) -> None:
    env = os.environ
    identities = [{"name": "root", "actions": ["Admin", "Read", "Write", "List", "Tagging"],
                   "credentials": [{"accessKey": env["MINIO_ROOT_USER"], "secretKey": env["MINIO_ROOT_PASSWORD"]}]}]
    for path in sorted(Path(folder).glob("*.json")):
        name = path.stem.upper()
        user, password = env.get(f"S3_{name}_USER"), env.get(f"S3_{name}_PASSWORD")
        if not user or not password:
            sys.exit(f"error: S3_{name}_USER / S3_{name}_PASSWORD are not set (policy {path.name}); see .env.example")
        identities.append({"name": user, "actions": actions(json.loads(path.read_text())),
                           "credentials": [{"accessKey": user, "secretKey": password}]})
    json.dump({"identities": identities}, sys.stdout, indent=1)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "/etc/s3-policies")
