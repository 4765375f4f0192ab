"""The service on Ray Serve: the same `/v1` API, job store and job semantics, with jobs run by N
generator replicas (one GPU each on GPU machines) on one machine or a cluster.

- `settings.py`  `ScaleSettings`: replicas, autoscaling bounds and queue-depth target, resources.
- `events.py`    what a generator replica streams back to the ingress for one job (the contract).
- `replica.py`   the `Generator` deployment: runs jobs on its warm models (`serve.multiplexed`).
- `dispatch.py`  the ingress side: the `ReplicaExecutor` the job worker hands jobs to.
- `ingress.py`   the `Ingress` deployment: today's FastAPI app and job service, one replica.
- `app.py`       the Serve application (`build` for `serve run`/`serve deploy` configs, the YAML).
- `launch.py`    `serve --ray`: connect to or start Ray, deploy, serve until interrupted.
- `bench.py`     throughput with 1 vs 2 replicas.
Only this package imports `ray`, and nothing outside it imports this package unless `--ray` is
given (docs/scaling.md explains the design and the capacity model).
"""
