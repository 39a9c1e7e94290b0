"""Text-classification pipeline steps shared by the Airflow and Dagster orchestrations.

Importing this package is cheap and side-effect free: every heavy dependency (torch,
transformers, pandas, mlflow) is imported inside the function that needs it.
"""

__version__ = "0.1.0"
