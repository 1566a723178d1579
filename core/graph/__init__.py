"""Model fits as tasks: keys, the artifact store, executors and the pipeline DAG."""
