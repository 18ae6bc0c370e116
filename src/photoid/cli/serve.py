"""``photoid serve CATALOG``: the match-review web page (photoid.web), served by uvicorn."""

from __future__ import annotations

import argparse
import ipaddress
import secrets

from photoid.cli import args as common
from photoid.cli import validate
from photoid.cli.output import say
from photoid.errors import ConfigError

LOOPBACK_NAMES = ["127.0.0.1", "localhost", "::1"]


def register(sub) -> None:
    p = sub.add_parser("serve", help="the match-review web page for a catalog (local by default)")
    p.add_argument("dir", help="the catalog directory")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=validate.port, default=8000, help="port (default 8000)")
    p.add_argument(
        "--token",
        help="secret that write actions must carry; beyond localhost one is made up if not given",
    )
    p.add_argument(
        "--max-upload-mb",
        type=validate.upload_mb,
        default=20,
        help="largest photo accepted (MiB)",
    )
    common.add_model(p)
    p.add_argument(
        "--device",
        type=validate.device,
        help="'cpu', 'cuda' or 'cuda:N' (default: a GPU if there is one)",
    )
    p.add_argument(
        "--allow-host",
        action="append",
        default=[],
        metavar="NAME",
        help="another name the page is opened by (a DNS name of this machine); the Host header "
        "must be one of the served names",
    )
    p.add_argument(
        "--rerank",
        choices=("auto", "none", "local"),
        default="auto",
        help="how the page answers: auto (default): keypoints fused with the embedding when "
        "the catalog keeps keypoints, else the embedding; none: the embedding alone",
    )
    p.set_defaults(run=run)


def is_loopback(host: str) -> bool:
    """Whether ``host`` only listens on this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def served_hosts(host: str, extra: list[str] | None = None) -> list[str]:
    """The Host names a server listening on ``host`` answers to (a guard against DNS
    rebinding: a page of another site must not reach it by a name that resolves here): the
    loopback names, ``host`` itself, and for every interface (``0.0.0.0``, ``::``) this
    machine's name, its full name and their addresses; plus ``extra`` (``--allow-host``)."""
    import socket

    names = {*LOOPBACK_NAMES, *(extra or [])}
    if host in ("0.0.0.0", "::", ""):
        own = {socket.gethostname(), socket.getfqdn()}
        for name in list(own):
            try:
                own |= {info[4][0] for info in socket.getaddrinfo(name, None)}
            except OSError:  # a name this machine cannot resolve: its name alone
                pass
        names |= own
    else:
        names.add(host)
    return sorted(names)


def run(args: argparse.Namespace) -> int:
    try:
        import uvicorn

        from photoid.web.app import Limits, create_app
    except ImportError as exc:
        raise ConfigError(
            f"photoid serve needs FastAPI and uvicorn ({exc.name} is missing): "
            "pip install 'photoid[web]'"
        ) from None
    from photoid.catalog.model import catalog_model
    from photoid.catalog.store import CatalogStore
    from photoid.service.review import ReviewSession

    local = is_loopback(args.host)
    token = args.token or (None if local else secrets.token_urlsafe(18))
    store = CatalogStore(args.dir)
    model = catalog_model(store, **common.model_options(args))
    session = ReviewSession(store, model, device=args.device, road=args.rerank)
    say(f"{store.root}: preparing identification (the index, and the keypoint re-ranker)")
    session.warm()
    limits = Limits(max_bytes=int(args.max_upload_mb * 2**20))
    hosts = served_hosts(args.host, args.allow_host)
    app = create_app(session, token=token, limits=limits, allowed_hosts=hosts)
    shown = f"[{args.host}]" if ":" in args.host else args.host
    url = f"http://{shown}:{args.port}/" + (f"#token={token}" if token else "")
    say(f"photoid review of {store.root}: open {url}  (Ctrl-C stops it)")
    if not local:
        say("listening beyond this machine: write actions need the token in that address")
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    return 0
