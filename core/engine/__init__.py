"""The task engine: tasks and their keys, a registry of task kinds, the artifact store and the executors.

It knows nothing of emotion, data or models. A method (musefuse's is core/method/) registers its task kinds with
their runners (:mod:`.kinds`) and hands the executors a *worker context*: whatever its runners need in a
worker (for musefuse: the standardised dataset, the plugin host, the device), built in each process by a
picklable factory. The engine runs tasks in dependency order, writes their outputs into the store and
reuses what the store has.
"""
