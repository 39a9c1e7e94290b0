"""Model versions in MLflow: tracking, registration, who holds `champion` (promotion, pin,
approval), its history and lineage, and the lifecycle commands people run."""
