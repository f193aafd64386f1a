"""SkyDriver's process: open the database, serve the REST API, run the background loops, shut down cleanly."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import socket
from collections.abc import Coroutine
from typing import Any

import tornado.httpserver
import tornado.web
from rest_tools.server import RestHandlerSetup, RestServer

from .auth import rest_handler_auth_config, role_mapping
from .backlog_runner import BacklogRunner
from .config import Settings
from .database import Database, open_database
from .docker_tags import DockerTagResolver
from .launchers import Launcher, make_launcher
from .logs import log_access
from .metrics import Metrics
from .readiness import Readiness
from .reconcile import mend_forever, reconcile_forever
from .rest.base import MAX_HEAD_BYTES
from .rest.routes import add_routes
from .rest.uploads import UploadSlots
from .results.renders import WORKER_MODULES, Renders
from .scan_watch import ScanWatcher
from .scans import ScanService
from .teardown import TeardownLoop
from .workers import WorkerPool

LOGGER = logging.getLogger(__name__)


class LimitedRestServer(RestServer):
    """rest_tools' server, its HTTP server given limits: a slow or silent client cannot hold a connection for long."""

    def __init__(self, settings: Settings, **kwargs: Any):
        super().__init__(**kwargs)
        self.max_body_size = settings.max_body_bytes  # (RestServer ignores its constructor's max_body_size)
        self.http_limits = {
            "idle_connection_timeout": settings.idle_timeout,  # also bounds the wait for a request's headers
            "body_timeout": settings.body_timeout,
            "max_header_size": MAX_HEAD_BYTES,
        }

    def startup(self, address: str = "localhost", port: int = 8080) -> None:
        app = tornado.web.Application(self.routes, **self.app_args)
        self.http_server = tornado.httpserver.HTTPServer(
            app, xheaders=True, max_body_size=self.max_body_size, **self.http_limits
        )
        self.http_server.bind(port, address=address, family=socket.AF_INET)
        self.http_server.start()


@dataclasses.dataclass
class SkyDriver:
    """A running SkyDriver: its REST server, database, launcher and background loops."""

    settings: Settings
    database: Database
    launcher: Launcher | None
    service: ScanService
    rest: RestServer
    port: int
    body_workers: WorkerPool
    renders: Renders
    background: list[asyncio.Task[Any]] = dataclasses.field(default_factory=list)
    owns_workers: bool = True  # False: the worker pools were given to ``start`` and outlive this SkyDriver

    @property
    def address(self) -> str:
        return f"http://{self.settings.rest_host}:{self.port}"

    async def stop(self) -> None:
        self.service.watcher.close()
        await asyncio.sleep(0)  # let the open event streams end their responses
        await stop_tasks(self.background)
        await self.rest.stop()
        if self.owns_workers:
            self.body_workers.close()
            self.renders.pool.close()
        if self.launcher:
            await self.launcher.close()
        await self.database.close()
        LOGGER.info("SkyDriver stopped")


async def stop_tasks(tasks: list[asyncio.Task[Any]], patience: float = 10.0) -> None:
    """Cancel tasks and wait for them, cancelling again while any runs on.

    One cancel is not always enough: PyMongo's network layer can absorb a cancellation that arrives while a command
    is finishing, and the loop then carries on as if never cancelled (seen as a shutdown that hung forever).
    """
    deadline = asyncio.get_running_loop().time() + patience
    pending = {task for task in tasks if not task.done()}
    while pending and asyncio.get_running_loop().time() < deadline:
        for task in pending:
            task.cancel()
        _, pending = await asyncio.wait(pending, timeout=0.5)
    for task in pending:
        LOGGER.error("background task %s did not stop within %.0fs; leaving it", task.get_name(), patience)


def _bind_port(host: str, port: int) -> int:
    """Resolve port 0 to a free port up front: the launcher must know the address scanners call back to."""
    if port:
        return port
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def worker_pools(settings: Settings) -> tuple[WorkerPool, WorkerPool]:
    """The body and render worker pools the settings ask for (their processes start on first use)."""
    # large bodies hold an upload slot (large_uploads_per_role for each of the 3 roles): never refused here
    body = WorkerPool("body", settings.body_workers, settings.large_uploads_per_role * 3, ("skydriver.rest.bodies",))
    return body, WorkerPool("render", settings.render_workers, settings.render_queue, WORKER_MODULES)


async def start(
    settings: Settings, launcher: Launcher | None = None, workers: tuple[WorkerPool, WorkerPool] | None = None
) -> SkyDriver:
    """Start everything; the returned SkyDriver is serving when this returns.

    ``launcher`` replaces the configured one (tests pass a KubernetesLauncher bound to an API emulator). ``workers``
    (body and render pools, as ``worker_pools`` makes them) are used instead of new ones and left running at stop:
    tests share them across the SkyDrivers they start, as a render process takes seconds of CPU to import its modules.
    """
    settings.check()
    port = _bind_port(settings.rest_host, settings.rest_port)
    database = await open_database(settings)
    try:
        launcher = launcher or make_launcher(settings)
        service = ScanService(
            settings=settings,
            database=database,
            tags=DockerTagResolver(settings.docker_tags_source, settings.docker_tags),
            launcher=launcher,
            skydriver_address=settings.public_address(port),
            watcher=ScanWatcher(database, settings.stall_after),
            metrics=Metrics(),
        )
        readiness = Readiness(database, settings.launcher)
        body_workers, render_workers = workers or worker_pools(settings)
        renders = Renders(render_workers, settings.render_cache_mb * 1024 * 1024)
        handler_args = RestHandlerSetup(rest_handler_auth_config(settings))
        handler_args.update(
            service=service,
            role_mapping=role_mapping(settings),
            max_body_bytes=settings.max_body_bytes,
            uploads=UploadSlots(settings.large_uploads_per_role),
            readiness=readiness,
            body_workers=body_workers,
            renders=renders,
        )
        # no rest_tools route stats: they keep latencies per URL path (one entry per scan id, never freed), compute
        # quantiles on every request, and answer 503 at random when slow, which an alert POST must never get
        handler_args["route_stats"] = None
        rest = LimitedRestServer(settings, log_function=log_access)  # one access line per request (skydriver.logs)
        add_routes(rest, handler_args)
        rest.startup(address=settings.rest_host, port=port)
    except BaseException:
        await database.close()
        raise
    driver = SkyDriver(settings, database, launcher, service, rest, port, body_workers, renders, owns_workers=workers is None)
    loops: dict[str, Coroutine[Any, Any, None]] = {
        "database-health": database.health.watch(),
        "teardown": TeardownLoop(settings, database, launcher, service.metrics).run_forever(),
        "scan-watcher": service.watcher.run_forever(),
    }
    if launcher is not None:
        runner = BacklogRunner(settings, database, launcher, service.skydriver_address, service.metrics, wake=service.scan_accepted)
        loops["backlog"] = runner.run_forever()
        loops["reconcile"] = reconcile_forever(settings, database, launcher, service.metrics, readiness.launcher_reach)
    else:
        loops["list-upkeep"] = mend_forever(settings, database)
    for name, loop in loops.items():
        readiness.loops[name] = task = asyncio.create_task(loop, name=name)
        driver.background.append(task)
    if not database.scans_keyed:  # once, after an upgrade: not a loop (it ends), not waited for
        driver.background.append(asyncio.create_task(database.key_earlier_scans(), name="state-keys"))
    LOGGER.info(
        "SkyDriver serving at %s (launcher: %s, auth: %s)", driver.address, settings.launcher, "on" if settings.auth_enabled else "off"
    )
    return driver
