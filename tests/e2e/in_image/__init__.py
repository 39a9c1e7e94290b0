"""The e2e halves that run inside the ml image (`python -m tests.e2e.in_image.<name>`, started by `stack.in_ml_image`)."""
