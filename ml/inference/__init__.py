"""Labelling texts with a trained model: batch prediction and the MLflow pyfunc for serving."""
