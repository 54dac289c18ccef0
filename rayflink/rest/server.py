"""The REST endpoint: Flink's paths over the job manager's job masters, the web UI, ``/metrics``.

It runs on two threads of the job manager's process: uvicorn serving a Starlette app, and the
metrics sampler. Handlers read the job masters' state directly and run blocking requests
(savepoints, stop) on threads of their own, so a slow savepoint never holds a page.

Options (Flink's keys): ``rest.bind-address`` (default 127.0.0.1), ``rest.port`` (8081) or
``rest.bind-port`` (a port or a range such as ``8081-8090``: the first free one is taken; by
default rest.port and the 99 ports after it, so a second local cluster or a busy port does not
stop a job), and ``rest.address`` (the host printed in the URL). Binding anything but a loopback address needs
``rest.authentication.token``: every request must then carry ``Authorization: Bearer <token>``
(or ``?token=`` once, which sets a cookie for the web UI).
"""

from __future__ import annotations

import ipaddress
import json
import socket
import threading
import time
import uuid
from collections.abc import Callable
from importlib import resources
from typing import Any

from rayflink.common import config_options
from rayflink.errors import RayflinkError
from rayflink.rest import prometheus, views
from rayflink.rest.sampler import MetricsSampler
from rayflink.runtime.executor import NAMESPACE

_TOKEN_COOKIE = "rayflink-token"


class RestConfigurationError(RayflinkError):
    """The REST endpoint's options cannot be used (a port range without a free port, no token)."""


def _ports(spec: str) -> range:
    text = str(spec).strip()
    try:
        if "-" in text:
            low, high = (int(p) for p in text.split("-", 1))
            return range(low, high + 1)
        return range(int(text), int(text) + 1)
    except ValueError:
        raise RestConfigurationError(
            f"rest.bind-port: {spec!r} is not a port or a range of ports such as '8081-8090'") from None


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def bind_socket(host: str, ports: range) -> socket.socket:
    """A listening socket on the first free port of ``ports`` (port 0: one the system picks)."""
    last: OSError | None = None
    for port in ports:
        sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.bind((host, port))
            sock.listen(128)
            return sock
        except OSError as exc:
            sock.close()
            last = exc
    raise RestConfigurationError(f"rest.bind-port: no free port in {ports.start}-{ports.stop - 1} on {host} "
                                 f"({last}); set rest.bind-port to a free port or range")


class RestEndpoint:
    """Serves the REST API, web UI and Prometheus metrics of one job manager.

    ``jobs`` returns the job manager's ``{job_id: JobMaster}``; ``executors`` the task executors'
    info dicts. ``start()`` binds and returns the URL.
    """

    def __init__(self, jobs: Callable[[], dict[str, Any]], executors: Callable[[], list[dict]],
                 options: dict) -> None:
        self._jobs = jobs
        self._executors = executors
        self.options = dict(options)
        self.host = config_options.get(options, config_options.REST_BIND_ADDRESS)
        port = config_options.get(options, config_options.REST_PORT)
        ports = config_options.get(options, config_options.REST_BIND_PORT) or \
            (f"{port}-{port + 99}" if port else "0")
        self._ports = _ports(ports)
        self.token = config_options.get(options, config_options.REST_AUTHENTICATION_TOKEN)
        if not _is_loopback(self.host) and not self.token:
            raise RestConfigurationError(
                f"rest.bind-address is {self.host!r}, not a loopback address: set rest.authentication.token, "
                "which every request must then carry (Authorization: Bearer <token>)")
        self.sampler = MetricsSampler(self._sample)
        self._triggers: dict[str, dict] = {}
        self._triggers_lock = threading.Lock()
        self._server: Any = None
        self.url: str | None = None

    # ---- lifecycle ----------------------------------------------------------------------------

    def start(self) -> str:
        import uvicorn

        sock = bind_socket(self.host, self._ports)
        port = sock.getsockname()[1]
        shown = config_options.get(self.options, config_options.REST_ADDRESS) or \
            ("127.0.0.1" if self.host in ("0.0.0.0", "::") else self.host)
        self.url = f"http://{shown}:{port}"
        config = uvicorn.Config(self.app(), log_level="warning", lifespan="off", access_log=False)
        self._server = uvicorn.Server(config)
        threading.Thread(target=self._server.run, kwargs={"sockets": [sock]}, daemon=True,
                         name="rest-endpoint").start()
        self.sampler.start()
        return self.url

    def stop(self) -> None:
        self.sampler.stop()
        if self._server is not None:
            self._server.should_exit = True

    # ---- what the views read ------------------------------------------------------------------

    def _sample(self) -> dict[str, dict]:
        out = {}
        for job_id, master in list(self._jobs().items()):
            if master.status not in views.TERMINAL or job_id not in out:
                out[job_id] = master.metrics()
        return out

    def job_view(self, job_id: str) -> views.JobView:
        master = self._jobs().get(job_id)
        if master is None:
            raise KeyError(job_id)
        return job_view(master, self.sampler, self._executor_index())

    def job_views(self) -> list[views.JobView]:
        executors = self._executor_index()
        return [job_view(m, self.sampler, executors) for m in list(self._jobs().values())]

    def _executor_index(self) -> dict[str, dict]:
        try:
            return {e["actor_id"]: e for e in self._executors()}
        except Exception:  # noqa: BLE001 - executors that cannot answer are shown as unknown
            return {}

    # ---- savepoints and stop ------------------------------------------------------------------

    def trigger(self, job_id: str, action: str, target: str | None) -> str:
        master = self._jobs()[job_id]
        directory = config_options.savepoint_directory(master.config, target)
        request_id = uuid.uuid4().hex
        with self._triggers_lock:
            self._triggers[request_id] = {"job_id": job_id, "status": "IN_PROGRESS"}

        def run() -> None:
            try:
                if action == "stop":
                    location = master.stop_with_savepoint(directory)
                elif action == "cancel":
                    location = master.trigger_savepoint(directory)
                    master.cancel()
                else:
                    location = master.trigger_savepoint(directory)
                result = {"status": "COMPLETED", "location": location}
            except Exception as exc:  # noqa: BLE001 - the failure is the answer to the status request
                result = {"status": "COMPLETED", "failure": f"{type(exc).__name__}: {exc}",
                          "class": type(exc).__name__}
            with self._triggers_lock:
                self._triggers[request_id].update(result)

        threading.Thread(target=run, daemon=True, name=f"savepoint-{request_id[:8]}").start()
        return request_id

    def trigger_status(self, job_id: str, request_id: str) -> dict:
        with self._triggers_lock:
            t = dict(self._triggers.get(request_id) or {})
        if not t or t["job_id"] != job_id:
            raise KeyError(request_id)
        if t["status"] == "IN_PROGRESS":
            return {"status": {"id": "IN_PROGRESS"}}
        if "failure" in t:
            return {"status": {"id": "COMPLETED"},
                    "operation": {"failure-cause": {"class": t["class"], "stack-trace": t["failure"],
                                                    "serialized-throwable": t["failure"]}}}
        return {"status": {"id": "COMPLETED"}, "operation": {"location": t["location"]}}

    # ---- the app ------------------------------------------------------------------------------

    def app(self) -> Any:
        from starlette.applications import Starlette
        from starlette.middleware import Middleware
        from starlette.middleware.base import BaseHTTPMiddleware
        from starlette.requests import Request
        from starlette.responses import JSONResponse, Response
        from starlette.routing import Route

        endpoint = self

        def error(status: int, message: str) -> JSONResponse:
            return JSONResponse({"errors": [message]}, status_code=status)

        def handler(fn: Callable[..., Any]) -> Callable[[Request], Any]:
            async def run(request: Request) -> Response:
                import anyio

                try:
                    body = await request.body()
                    payload = json.loads(body) if body else {}
                    result = await anyio.to_thread.run_sync(lambda: fn(request, payload))
                except KeyError as exc:
                    return error(404, f"not found: {exc.args[0] if exc.args else request.url.path}")
                except (ValueError, RayflinkError) as exc:
                    return error(400, str(exc))
                if isinstance(result, Response):
                    return result
                return JSONResponse(result)
            return run

        def job(request: Request) -> views.JobView:
            return endpoint.job_view(request.path_params["jobid"])

        def vertex(request: Request) -> tuple[views.JobView, views.VertexView]:
            j = job(request)
            return j, j.vertex(request.path_params["vertexid"])

        def executors() -> list[dict]:
            try:
                return endpoint._executors()
            except Exception:  # noqa: BLE001
                return []

        def cancel_or_get(request: Request, payload: dict) -> Any:
            if request.method == "PATCH":
                mode = request.query_params.get("mode", "cancel")
                if mode != "cancel":
                    raise ValueError(f"mode={mode!r}: only mode=cancel is supported")
                endpoint._jobs()[request.path_params["jobid"]].cancel()
                return JSONResponse({}, status_code=202)
            return views.job_details(job(request))

        def savepoints(request: Request, payload: dict) -> Any:
            action = "cancel" if payload.get("cancel-job") else "savepoint"
            rid = endpoint.trigger(request.path_params["jobid"], action, payload.get("target-directory"))
            return JSONResponse({"request-id": rid}, status_code=202)

        def stop(request: Request, payload: dict) -> Any:
            rid = endpoint.trigger(request.path_params["jobid"], "stop", payload.get("targetDirectory"))
            return JSONResponse({"request-id": rid}, status_code=202)

        def metrics(request: Request, payload: dict) -> Any:
            return Response(prometheus.exposition(endpoint.job_views), media_type="text/plain; version=0.0.4")

        def web(request: Request, payload: dict) -> Any:
            name = request.path_params.get("path") or "index.html"
            if "/" in name or name.startswith("."):
                raise KeyError(name)
            try:
                data = resources.files("rayflink.rest").joinpath("web").joinpath(name).read_bytes()
            except (FileNotFoundError, IsADirectoryError):
                raise KeyError(name) from None
            kind = {"html": "text/html", "js": "text/javascript", "css": "text/css",
                    "svg": "image/svg+xml"}.get(name.rsplit(".", 1)[-1], "application/octet-stream")
            return Response(data, media_type=kind)

        routes = [
            Route("/", handler(web)),
            Route("/web/{path}", handler(web)),
            Route("/metrics", handler(metrics)),
            Route("/config", handler(lambda r, p: views.dashboard_config())),
            Route("/overview", handler(lambda r, p: views.cluster_overview(endpoint.job_views(), executors()))),
            Route("/jobs", handler(lambda r, p: views.jobs(endpoint.job_views()))),
            Route("/jobs/overview", handler(lambda r, p: views.jobs_overview(endpoint.job_views()))),
            Route("/jobs/{jobid}", handler(cancel_or_get), methods=["GET", "PATCH"]),
            Route("/jobs/{jobid}/plan", handler(lambda r, p: views.plan(job(r)))),
            Route("/jobs/{jobid}/exceptions", handler(lambda r, p: views.exceptions(job(r)))),
            Route("/jobs/{jobid}/checkpoints", handler(lambda r, p: views.checkpoints(job(r)))),
            Route("/jobs/{jobid}/checkpoints/config", handler(lambda r, p: views.checkpoint_config(job(r)))),
            Route("/jobs/{jobid}/checkpoints/details/{cid:int}",
                  handler(lambda r, p: views.checkpoint_details(job(r), r.path_params["cid"]))),
            Route("/jobs/{jobid}/savepoints", handler(savepoints), methods=["POST"]),
            Route("/jobs/{jobid}/savepoints/{rid}",
                  handler(lambda r, p: endpoint.trigger_status(r.path_params["jobid"], r.path_params["rid"]))),
            Route("/jobs/{jobid}/stop", handler(stop), methods=["POST"]),
            Route("/jobs/{jobid}/vertices/{vertexid}", handler(lambda r, p: views.vertex_details(*vertex(r)))),
            Route("/jobs/{jobid}/vertices/{vertexid}/backpressure",
                  handler(lambda r, p: views.backpressure(*vertex(r)))),
            Route("/jobs/{jobid}/vertices/{vertexid}/watermarks",
                  handler(lambda r, p: views.watermarks(*vertex(r)))),
            Route("/jobs/{jobid}/vertices/{vertexid}/subtasks/metrics",
                  handler(lambda r, p: views.subtasks_metrics(*vertex(r), r.query_params.get("get")))),
            Route("/taskmanagers", handler(lambda r, p: views.taskmanagers(executors()))),
            Route("/jobmanager/config", handler(lambda r, p: views.jobmanager_config(endpoint.options))),
        ]

        class TokenAuth(BaseHTTPMiddleware):
            async def dispatch(self, request: Request, call_next: Any) -> Response:
                token = endpoint.token
                if token is None:
                    return await call_next(request)
                given = request.headers.get("authorization", "")
                if given == f"Bearer {token}" or request.cookies.get(_TOKEN_COOKIE) == token:
                    return await call_next(request)
                if request.query_params.get("token") == token:
                    response = await call_next(request)
                    response.set_cookie(_TOKEN_COOKIE, token, httponly=True, samesite="strict")
                    return response
                return JSONResponse({"errors": ["missing or wrong token (rest.authentication.token)"]},
                                    status_code=401)

        return Starlette(routes=routes, middleware=[Middleware(TokenAuth)])


def job_view(master: Any, sampler: MetricsSampler, executors: dict[str, dict]) -> views.JobView:
    """What the REST API shows of ``master`` (a JobMaster) now."""
    graph = master.graph
    vertices = []
    hex_of = {v.id: views.vertex_hex_id(v.head.uid) for v in graph.vertices}
    for v in graph.vertices:
        inputs = tuple((hex_of[e.source_vertex.id], str(e.stream_edge.partitioner)) for e in graph.in_edges(v))
        vertices.append(views.VertexView(index=v.id, id=hex_of[v.id], name=v.name, parallelism=v.parallelism,
                                         max_parallelism=v.max_parallelism, inputs=inputs,
                                         operators=tuple(n.name for n in v.nodes)))
    metrics = sampler.latest(master.job_id)
    if metrics is None or master.status in views.TERMINAL:
        metrics = master.metrics()
    statistics = master.checkpoint_statistics()  # the history is the latest web.checkpoints.history
    history = tuple(statistics["history"])
    counts = {k: statistics["counts"][k] for k in ("total", "in_progress", "completed", "failed")}
    exceptions = []
    failovers = list(master.failovers)
    for i, message in enumerate(list(master.failures)):
        at = failovers[i]["detected_at"] if i < len(failovers) else master.start_time
        exceptions.append(_exception(message, at))
    if master.error and (not master.failures or master.error.error != master.failures[-1]):
        exceptions.append(_exception(master.error.error, master.end_time or time.time(), master.error.traceback))
    return views.JobView(
        job_id=master.job_id, name=graph.name, state=str(master.status), start_ms=int(master.start_time * 1000),
        end_ms=int(master.end_time * 1000) if master.end_time else -1, now_ms=int(time.time() * 1000),
        restarts=master.restarts, vertices=tuple(vertices), metrics=metrics,
        rates=sampler.subtask_rates(master.job_id), checkpoints=history, checkpoint_counts=counts,
        config=dict(master.config), exceptions=tuple(exceptions), executors=executors)


def _exception(message: str, at_s: float, stacktrace: str | None = None) -> dict:
    name = "rayflink.errors.JobExecutionError"
    marker = " raised "
    if marker in message:
        name = message.split(marker, 1)[1].split(":", 1)[0]
    task = message.split(":", 1)[0] if message.startswith(("operator ", "task ")) else ""
    return {"name": name, "message": message, "timestamp_ms": int(at_s * 1000), "task": task,
            "stacktrace": stacktrace or message}


def executor_infos() -> list[dict]:
    """Every running task executor's info (node, process, memory, subtasks)."""
    import ray

    refs = []
    for entry in ray.util.list_named_actors(all_namespaces=True):
        if entry.get("namespace") == NAMESPACE and str(entry.get("name", "")).startswith("task-executor-"):
            try:
                refs.append(ray.get_actor(entry["name"], namespace=NAMESPACE).info.remote())
            except ValueError:  # it died since the listing
                continue
    out = []
    for ref in refs:
        try:
            out.append(ray.get(ref, timeout=2))
        except Exception:  # noqa: BLE001 - an executor that does not answer is left out
            continue
    nodes = {n["NodeID"]: n for n in ray.nodes() if n.get("Alive")}
    for info in out:
        node = nodes.get(info.get("node_id"), {})
        info.setdefault("node_ip", node.get("NodeManagerAddress", ""))
        info.setdefault("cpus", int(node.get("Resources", {}).get("CPU", 0)))
        info.setdefault("memory_total", int(node.get("Resources", {}).get("memory", 0)))
    return sorted(out, key=lambda e: e.get("index", 0))
