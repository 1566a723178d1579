"""The method of the paper as tasks: what each stage computes, the plan that wires the stages, the choices made
from data, and a fitted pipeline that applies the stages as training did.

    candidates.py  what a run decides between, and each decision's name (imports nothing of musefuse)
    plan.py        a run's tasks, stage by stage: estimators → regressors → fusers
    tasks.py       each kind's task spec, built from the run's configuration (the hashed dicts)
    spec.py        the typed view the runners read a spec through
    kinds.py       the task kinds' runners, registered with the engine
    stages.py      each stage applied: one function for training and for a fitted pipeline
    env.py         the worker context the runners read (TaskEnv)
    workers.py     how each kind of worker builds it (the factories the executors are handed)
    boundary.py    every call into plugin code, checked
    pipeline.py    train a run, read back the fitted pipeline, apply it to any data
"""
