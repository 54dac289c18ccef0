"""The REST API at Flink's paths, the web UI served beside it, and the Prometheus endpoint.

The server runs inside the job manager's process (as Flink's WebMonitorEndpoint runs in the
JobManager): it reads the job masters directly, samples their metrics once a second to derive
per-second rates over a recent window (Flink's meters), and never blocks a job's own threads.
"""
