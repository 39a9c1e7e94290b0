"""Fine-tuning and judging a model: the training loop, metrics, plots and the quality gate."""
