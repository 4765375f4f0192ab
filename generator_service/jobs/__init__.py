"""Jobs of the generator service: records and their SQLite store, the bounded queue with its one
worker thread (or several slots handing jobs to an executor elsewhere, e.g. Ray Serve replicas:
execution.py), the caches (features, results, uploads) and the model holder (lazy load, idle unload).

Nothing here imports torch at module level; the worker thread is the only place models run here.
"""
