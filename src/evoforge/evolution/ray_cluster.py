"""Starting or joining the Ray cluster a run uses (``run.backend = "ray"``).

With ``run.ray_address`` the run joins that cluster, and trusts it: whoever
runs that cluster runs the run's code, and the run runs theirs. Without one,
evoforge starts a cluster of its own on this machine that listens on the
loopback interface only and has no dashboard: an unauthenticated Ray port
lets anyone who reaches it run code, so nothing else must reach it.

Why the patch in `_start_loopback`: Ray (2.x) picks the address its GCS
server, raylet, object manager, workers and driver listen on from the node's
IP, and ``ray.init(_node_ip_address="127.0.0.1")`` alone does not work, since
`ray._private.services.resolve_ip_for_localhost` turns a loopback address back
into the machine's outward-facing one, unless
``ray_constants.ENABLE_RAY_CLUSTER`` is off (what the environment variable
``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0`` sets at import, which users will not
set). evoforge turns that constant off for the duration of ``ray.init``, in
this process only, and then checks the address Ray reports: if it is not a
loopback one (a Ray release that changed this), the cluster is shut down and
the run refused rather than exposed.

Example:
    >>> import ray  # doctest: +SKIP
    >>> started = init_ray(None)  # doctest: +SKIP
    >>> ray.get_runtime_context().gcs_address.startswith("127.")  # doctest: +SKIP
    True
    >>> if started: ray.shutdown()  # doctest: +SKIP
"""

from __future__ import annotations

import ipaddress
import os
import sys
from typing import Any

from evoforge.config import ConfigError

LOOPBACK = "127.0.0.1"
LOCAL = "local"  # Ray's name for "start a new local cluster"


def _import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise ConfigError(
            "run.backend",
            "'ray' needs Ray, which is not installed: pip install 'evoforge[ray]'",
        ) from None
    return ray


def is_loopback(host: str) -> bool:
    """Whether ``host`` (an IP address, IPv4 or IPv6) is a loopback address.

    >>> is_loopback("127.0.0.1"), is_loopback("::1"), is_loopback("10.0.0.2")
    (True, True, False)
    """
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def init_ray(address: str | None) -> bool:
    """Connect this process to Ray; True when it started a cluster that the
    caller must stop with ``ray.shutdown()``.

    ``address`` (``run.ray_address``, e.g. ``"auto"`` or ``"ray://host:10001"``)
    joins that cluster; None (or ``"local"``) starts a local cluster bound to
    127.0.0.1 with no dashboard, whose workers get the driver's ``sys.path``
    as ``PYTHONPATH`` (they unpickle the run's domain; a remote cluster's nodes
    must have the packages installed instead). If Ray is already initialised
    in this process, that connection is used as it is and False returned.
    ``RAY_ADDRESS`` in the environment is ignored when ``address`` is None:
    the run's config says which cluster it trusts.

    Raises `ConfigError` (``run.backend``) when Ray is not installed, and
    RuntimeError when a local cluster did not bind to loopback.

    Example:
        >>> import ray  # doctest: +SKIP
        >>> if init_ray(None):  # doctest: +SKIP
        ...     ray.shutdown()
    """
    ray = _import_ray()
    if ray.is_initialized():
        return False
    common: dict[str, Any] = {
        "include_dashboard": False,
        "log_to_driver": False,
        "configure_logging": False,
    }
    if address is not None and address != LOCAL:
        ray.init(address=address, **common)
        return True
    _start_loopback(ray, common)
    return True


def _start_loopback(ray: Any, common: dict[str, Any]) -> None:
    """Start a local cluster listening on 127.0.0.1 only (see the module docstring)."""
    from ray._private import ray_constants

    path = os.pathsep.join(p for p in sys.path if p)
    # A Ray without this constant gets it set harmlessly; the check below
    # then catches a cluster that bound elsewhere anyway.
    saved = getattr(ray_constants, "ENABLE_RAY_CLUSTER", True)
    ray_constants.ENABLE_RAY_CLUSTER = False  # keeps _node_ip_address loopback
    try:
        context = ray.init(
            address=LOCAL,  # never join what RAY_ADDRESS names
            _node_ip_address=LOOPBACK,
            runtime_env={"env_vars": {"PYTHONPATH": path}},
            **common,
        )
    finally:
        ray_constants.ENABLE_RAY_CLUSTER = saved
    node_ip = context.address_info.get("node_ip_address", "")
    gcs_host = context.address_info.get("gcs_address", "").rpartition(":")[0]
    if not (is_loopback(node_ip) and is_loopback(gcs_host)):
        ray.shutdown()
        raise RuntimeError(
            f"the local Ray cluster came up on {node_ip or gcs_host or 'an unknown address'},"
            " not on loopback; refusing to run with it reachable from the network"
            f" (Ray {ray.__version__}); set run.ray_address to a cluster you started"
        )
