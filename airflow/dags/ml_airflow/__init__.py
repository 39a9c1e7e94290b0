"""What the DAG files import: the DAG builder over ml's pipeline spec, the step launchers, the
approval tasks and the new-data trigger. Kept out of DAG parsing by `.airflowignore`."""
