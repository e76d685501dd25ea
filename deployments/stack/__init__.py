"""The local Prefect stack around the twin: `python -m deployments.stack up|down|status|logs|demo`.

`up` starts, in the background and only what does not already run, the local twin
(`python -m sandbox up`), a Prefect server (SQLite under `PREFECT_HOME`), the `kops-nlb` process
work pool with one worker, and registers every deployment of prefect.yaml. `demo` does `up`, then
runs `provision/local` and `verify/local` to completion and prints the verification table.
`down` stops exactly the processes `up` started, recognised by pid file and command line.
"""
