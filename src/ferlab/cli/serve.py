"""`ferlab serve`: the REST API and the web page (photos and webcam)."""

from __future__ import annotations

import argparse
import sys

from ferlab.cli.common import in_range
from ferlab.cli.recognition import add_recognizer_args, options_from_args
from ferlab.errors import FerlabError
from ferlab.serve.limits import ServeLimits

port = in_range(int, 1, 65535, name="a port number", why="a TCP port is 1-65535")


def add_parser(sub) -> None:
    d = ServeLimits()
    sv = sub.add_parser(
        "serve",
        help="REST API and web page (photos and webcam)",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    sv.add_argument("--host", default="127.0.0.1", help="address to bind (loopback only unless told)")
    sv.add_argument("--port", type=port, default=8000, help="TCP port")
    sv.add_argument("--model", action="append", help="load this model (repeatable); default: the bundled one")
    sv.add_argument("--access-log", action="store_true", help="log every request on stderr")
    add_recognizer_args(sv, model=False)
    sv.add_argument("--max-upload-mb", type=float, default=d.max_upload_mb, help="largest upload accepted, MB (413)")
    sv.add_argument("--timeout", type=float, default=d.timeout_s, help="per-request deadline, seconds")
    sv.add_argument("--concurrency", type=int, default=d.max_concurrency, help="requests processed at once")
    sv.add_argument("--queue", type=int, default=d.max_queue, help="requests allowed to wait; more get 503")
    sv.add_argument(
        "--no-micro-batch", action="store_true", help="classify each request alone instead of batching concurrent ones"
    )
    sv.add_argument(
        "--max-megapixels",
        type=float,
        default=d.max_pixels / 1e6,
        help="largest PNG/TIFF/BMP/WEBP/GIF upload in megapixels (decoded whole; JPEGs are reduced while decoding)",
    )
    sv.add_argument(
        "--allowed-host",
        action="append",
        metavar="NAME",
        help="a Host header name to answer (repeatable; '*': any); default: 127.0.0.1, localhost, ::1",
    )
    sv.add_argument(
        "--cors-origin",
        action="append",
        metavar="ORIGIN",
        help="a browser origin allowed to call the API cross-site, e.g. https://app.example (repeatable; default none)",
    )
    sv.add_argument(
        "--body-timeout",
        type=float,
        default=d.body_timeout_s,
        help="longest wait, seconds, for the next piece of an upload before answering 408",
    )
    sv.add_argument(
        "--graceful-timeout",
        type=float,
        default=d.graceful_timeout_s,
        help="on SIGTERM/Ctrl-C, seconds to let running requests finish before cutting them off",
    )
    sv.set_defaults(func=run)


def run(args) -> int:
    from ferlab.serve.guards import LOCAL_HOSTS

    hosts = list(args.allowed_host or LOCAL_HOSTS)
    if args.host not in ("0.0.0.0", "::") and args.host not in hosts and not args.allowed_host:
        hosts.append(args.host)
    if args.host not in LOCAL_HOSTS:
        print(
            f"ferlab: serving on {args.host}: reachable from other machines; answering Host names "
            f"{', '.join(hosts)} (--allowed-host)",
            file=sys.stderr,
        )
    options = options_from_args(args)
    if options.prior == "collection":
        raise FerlabError(
            "--prior collection is estimated over a finished collection (predict, evaluate); the server labels "
            "each request as it comes: use --prior uniform"
        )
    _port_free(args.host, args.port)
    from ferlab.serve.app import create_app
    from ferlab.serve.server import serve

    limits = ServeLimits(
        max_upload_mb=args.max_upload_mb,
        timeout_s=args.timeout,
        max_concurrency=args.concurrency,
        max_queue=args.queue,
        max_pixels=int(args.max_megapixels * 1_000_000),
        body_timeout_s=args.body_timeout,
        graceful_timeout_s=args.graceful_timeout,
    )
    app = create_app(
        args.model or [None],
        options=options,
        limits=limits,
        micro_batch=not args.no_micro_batch,
        allowed_hosts=hosts,
        cors_origins=args.cors_origin,
    )
    if not serve(
        app, host=args.host, port=args.port, access_log=args.access_log, graceful_timeout_s=args.graceful_timeout
    ):
        print(
            f"ferlab: requests still running after --graceful-timeout {args.graceful_timeout:g} s were cut off",
            file=sys.stderr,
        )
        return 1
    return 0


def _port_free(host: str, port: int) -> None:
    """A port that cannot be bound is one line before any model loads (uvicorn would log it in its
    own format after the models loaded)."""
    import socket

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError as e:
            why = "in use (another server?)" if e.errno in (98, 48) else e.strerror
            raise FerlabError(f"{host}:{port}: cannot listen there: {why}; choose another with --port") from None
