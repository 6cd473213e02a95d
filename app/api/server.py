"""``tempme serve``: uvicorn serving the API and the page, in one process or as N replicas.

It listens first, with a small ASGI app (:mod:`.loading`: health, 503 readiness, a "loading the
model…" page) while a background thread imports FastAPI and Gradio and builds the API and the
page; it then hands over to that app, loads the model (``/api/v1/ready`` stays 503 and the page
says "loading the model…" until then) and advertises itself in ``<library>/serving.json``
(:mod:`app.advert`: the page URL and the API's base URL) for `tempme search` / `tempme shell`.

``--workers N``: N processes accept on one listening socket (the kernel hands each connection
to one of them). All answer the API; the page lives in the first process (its Gradio state is
per process), and the others relay page requests to it over a private Unix socket
(:mod:`.relay`). Each process opens the library read-mostly: searches share the memory-mapped
index and the catalog; writes (jobs, removals) take the library's write lock, one at a time
across processes; jobs and keys are in the catalog. Metrics of all processes add up
(prometheus-client's multiprocess folder). A worker that dies is started again.

SIGTERM or Ctrl-C: a running add stops within a batch (committed videos kept, the lock
released), open connections get 5 s, then the process exits 0 and its private folder is gone.
"""

from __future__ import annotations

import gc
import logging
import multiprocessing
import os
import signal
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import uvicorn
from tempme.app.api.loading import API_PREFIX, Loading

if TYPE_CHECKING:
    from tempme.app.api.deps import Services
    from tempme.app.api.keys import Signer
    from tempme.app.context import AppContext

# FastAPI, Gradio, the API's modules and the library are imported in `build`, after the socket
# listens (`Loading` answers meanwhile): `tempme serve` listens within seconds (issue 25).

logger = logging.getLogger(__name__)
GRACE_S = 5


@dataclass(frozen=True)
class ServeOptions:
    """What `tempme serve` was asked for (its options, checked)."""

    library: Path
    host: str = "127.0.0.1"
    port: int = 7860
    credentials: list[tuple[str, str]] | None = None  # (user, password); None: no login
    allow_folder_add: bool = False
    torch_threads: int = 1
    workers: int = 1
    cors_origins: tuple[str, ...] = ()
    log_level: int = logging.WARNING


class PageLinks:
    """The page's links to the API's file routes, signed (`keys.Signer`), relative to the page."""

    def __init__(self, signer: Signer) -> None:
        self.signer = signer

    def thumbnail(self, segment_id: int) -> str:
        return self.signer.sign(f"{API_PREFIX}/moments/{int(segment_id)}/thumbnail").lstrip("/")

    def stream(self, video_id: int) -> str:
        return self.signer.sign(f"{API_PREFIX}/videos/{int(video_id)}/stream").lstrip("/")


def services_for(options: ServeOptions, media_dir: Path) -> Services:
    """The service layer (`AppContext`, not opened yet) and the server's parts of one process."""
    from tempme.app.api.deps import Services
    from tempme.app.api.jobs import JobRunner
    from tempme.app.api.keys import Guard, Signer, load_secret
    from tempme.app.api.readiness import for_library
    from tempme.app.auth import LoginThrottle
    from tempme.app.context import AppContext

    ctx = AppContext(options.library, allow_folder_add=options.allow_folder_add, remux_dir=media_dir / "tempme-remux")
    ctx.loading = True  # until the warm-up after listening has loaded the model (the page's status line says so)
    throttle = LoginThrottle(options.credentials) if options.credentials else None
    signer = Signer(load_secret(ctx.library_dir) if ctx.library_dir.is_dir() else os.urandom(32))
    return Services(ctx, Guard(ctx, throttle, signer), signer, JobRunner(ctx), for_library(ctx))


def build(
    options: ServeOptions, media_dir: Path, *, page: bool, relay_to: str | None = None, services: Services | None = None
):
    """The ASGI app of one process: the API, then the page (``page``) or a relay to it, over
    ``services`` (default: new ones). Returns (app, ctx)."""
    from tempme.app.api.app import create_app
    from tempme.app.api.relay import Relay

    services = services or services_for(options, media_dir)
    app, throttle = create_app(services, cors_origins=options.cors_origins), services.guard.throttle
    if page:
        from tempme.app.web.server import build_page, mount_page

        demo = build_page(services.ctx, PageLinks(services.signer))
        mount_page(app, demo, login=throttle.login if throttle else None, host=options.host, port=options.port)
    elif relay_to is not None:
        app.mount("/", Relay(relay_to))
    return app, services.ctx


class Staged:
    """One process's app built in two steps (issue 25): first its services and the text search
    alone (`app.create_search_app`: the library's torch-free query model), which `Loading`
    answers ``/api/v1/search`` with while the API and the page are built over the same services."""

    def __init__(self, options: ServeOptions, media_dir: Path, *, page: bool, relay_to: str | None = None) -> None:
        self.options, self.media_dir, self.page, self.relay_to = options, media_dir, page, relay_to
        self.services: Services | None = None

    def search(self):
        from tempme.app.api.app import create_search_app

        self.services = services_for(self.options, self.media_dir)
        return create_search_app(self.services)

    def whole(self) -> tuple:
        return build(self.options, self.media_dir, page=self.page, relay_to=self.relay_to, services=self.services)


class Server(uvicorn.Server):
    """uvicorn's server that stops a running add as soon as it is told to exit."""

    def __init__(self, config: uvicorn.Config, stop: Callable[[], None]) -> None:
        super().__init__(config)
        self.stop = stop

    def handle_exit(self, sig, frame) -> None:
        self.stop()
        super().handle_exit(sig, frame)


def uvicorn_config(app) -> uvicorn.Config:
    return uvicorn.Config(app, log_level="warning", access_log=False, timeout_graceful_shutdown=GRACE_S, lifespan="on")


def search_threads(torch_threads: int) -> None:
    """Set once per process. Every search is one query vector: waking OpenMP threads costs
    more than it saves (measured: 44 -> 23 ms per search on 2 shared cores)."""
    from tempme.index import set_search_threads

    set_search_threads(torch_threads=max(1, torch_threads), faiss_threads=1)


def bind(host: str, port: int) -> socket.socket:
    """The listening TCP socket every process accepts on."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP named: asyncio turns Nagle off (TCP_NODELAY) only on sockets whose proto says TCP
    # (asyncio.base_events._set_nodelay); with proto 0 a response's two writes waited for the
    # client's delayed ACK: ~45 ms on every keep-alive request (httpx, curl), measured
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


class Startup:
    """What runs once the server listens (a background thread): build the full app, hand the
    `Loading` app over to it, ``then()``, and load the model (``ctx.warm_up``)."""

    def __init__(
        self,
        make: Callable[[], tuple],
        then: Callable[[AppContext], None] | None = None,
        search: Callable | None = None,
    ) -> None:
        """``make() -> (app, ctx)``; ``search() -> app``: what answers text searches meanwhile (built first)."""
        self.make, self.then, self.search = make, then, search
        self.loading = Loading()
        self.ctx: AppContext | None = None

    def stop(self) -> None:
        """Stop a running page add (SIGTERM, Ctrl-C)."""
        if self.ctx is not None:
            self.ctx.interrupt()

    def after_start(self, server: uvicorn.Server) -> None:
        while not server.started and not server.should_exit:
            time.sleep(0.05)
        if not server.started:
            return
        logger.info("listening; building the API and the page")
        try:
            if self.search is not None:
                self.loading.answer_searches(self.search())
            app, self.ctx = self.make()
            self.loading.switch(app)
        except Exception:
            logger.exception("the server could not start its app")
            server.should_exit = True
            return
        if self.then is not None:
            self.then(self.ctx)
        self.ctx.warm_up()


def run(startup: Startup, sockets: list[socket.socket]) -> None:
    """Serve on ``sockets`` until told to exit: `Loading` at once, the full app once built."""
    server = Server(uvicorn_config(startup.loading), startup.stop)
    threading.Thread(target=startup.after_start, args=(server,), name="tempme-warm-up", daemon=True).start()
    server.run(sockets=sockets)


def worker_main(options: ServeOptions, sock: socket.socket, page_socket: str, media_dir: str) -> None:
    """A replica (a spawned process): the API here, the page relayed to the page process."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("tempme").setLevel(options.log_level)
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(SystemExit(0)))
    search_threads(options.torch_threads)
    try:
        staged = Staged(options, Path(media_dir), page=False, relay_to=page_socket)
        run(Startup(staged.whole, search=staged.search), [sock])
    finally:
        gc.freeze()  # as in serve: no last collection of every object at exit


class Replicas:
    """The N - 1 worker processes beside the page process, started again when one dies."""

    def __init__(self, options: ServeOptions, sock: socket.socket, page_socket: str, media_dir: Path) -> None:
        self.args = (options, sock, page_socket, str(media_dir))
        self.spawn = multiprocessing.get_context("spawn")
        self.procs = [self._start() for _ in range(options.workers - 1)]
        self.stopping = threading.Event()
        threading.Thread(target=self._watch, name="tempme-replicas", daemon=True).start()

    def _start(self):
        proc = self.spawn.Process(target=worker_main, args=self.args, name="tempme-worker", daemon=False)
        proc.start()
        return proc

    def _watch(self) -> None:
        while not self.stopping.wait(1.0):
            for i, proc in enumerate(self.procs):
                if not proc.is_alive() and not self.stopping.is_set():
                    logger.warning("worker %d exited with %s; starting it again", proc.pid, proc.exitcode)
                    self.procs[i] = self._start()

    def stop(self) -> None:
        self.stopping.set()
        for proc in self.procs:
            if proc.is_alive():
                proc.terminate()
        for proc in self.procs:
            proc.join(GRACE_S + 10)
            if proc.is_alive():
                proc.kill()
                proc.join()


def page_socket(folder: Path) -> tuple[socket.socket, str]:
    """The page process's private Unix socket for the workers' relays."""
    path = str(folder / "page.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(path)
    os.chmod(path, 0o600)
    sock.listen(2048)
    return sock, path


def _exit_zero(signum, frame) -> None:
    raise SystemExit(0)  # uvicorn hands SIGTERM back once it has shut down: exit normally (atexit runs)


def serve(options: ServeOptions, announce: Callable[[str], None]) -> None:
    """Serve ``options.library`` until SIGTERM (returns) or Ctrl-C (KeyboardInterrupt);
    ``announce(url)`` once the API and the page answer (it listens earlier: `Loading`). With ``options.workers > 1`` the caller has set
    ``PROMETHEUS_MULTIPROC_DIR`` before this module was imported."""
    from tempme.app.advert import local_url, remove_advert, write_advert
    from tempme.app.web.server import private_gradio_dir

    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # no network calls
    os.environ.pop("GRADIO_ALLOWED_PATHS", None)  # only the library's files, never more
    private = private_gradio_dir()
    logger.info("uploads and served copies go to %s (removed at exit)", private)
    sock = bind(options.host, options.port)
    sockets, replicas = [sock], None
    if options.workers > 1:
        unix, path = page_socket(private)
        sockets.append(unix)
        replicas = Replicas(options, sock, path, private)
    url = local_url(options.host, sock.getsockname()[1])

    staged = Staged(options, private, page=True)

    def search():
        search_threads(options.torch_threads)
        return staged.search()

    def serving(ctx: AppContext) -> None:
        api = url + API_PREFIX.lstrip("/")
        if write_advert(options.library, url, auth=options.credentials is not None, api=api) is not None:
            import atexit

            atexit.register(remove_advert, options.library)  # also on SIGTERM (SystemExit) and Ctrl-C
        logger.info("serving library %s on %s (%d process(es))", ctx.library_dir, url, options.workers)
        announce(url)

    signal.signal(signal.SIGTERM, _exit_zero)
    startup = Startup(staged.whole, serving, search=search)
    try:
        run(startup, sockets)
    finally:
        startup.stop()
        if replicas is not None:
            replicas.stop()
        # The interpreter's last garbage collection walks every object of torch, Gradio, pandas...
        # (measured: 18.7 s of a SIGTERM exit on a loaded 2-core host, the process in
        # "Garbage-collecting"); nothing of ours needs it: freeze them out of it.
        gc.freeze()
