"""Fixtures of the end-to-end suite: real `xcon --headless` processes.

  engine        one engine per test module (private state dir, unix socket,
                127.0.0.1:<ephemeral>, the module's ENGINE_ARGS and ENGINE_ENV);
                stopped with SIGTERM at the end of the module, which asserts
                exit code 0 and no sanitizer report.
  root          root's trusted session on that engine's unix socket.
  make_engine   a factory for tests that need their own engine (options,
                restarts, crashes); every engine it made is stopped (and
                checked) when the test ends.
  pam_user      a throwaway local account (useradd + chpasswd) for PAM logins
                over TCP; deleted at the end of the run.
  dm            the datamodel parsed from dm/def/*.def.
  xo_client     tests/clients with its node_modules installed (`npm ci` once
                per run, skipped when they already match package-lock.json):
                the path of xo_check.mjs, Xen Orchestra's xen-api client.
"""
from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess

import pytest

import xconlib

_live_engines: list[xconlib.Engine] = []


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: takes several seconds")


def pytest_sessionstart(session):
    binary = xconlib.xcon_bin()
    if not os.access(binary, os.X_OK):
        pytest.exit(f"xcon binary {binary} is not built (run `make asan`, or set XCON_BIN)", returncode=2)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """On a failure, show the tail of every running engine's stderr."""
    outcome = yield
    rep = outcome.get_result()
    if rep.failed:
        for e in list(_live_engines):
            rep.sections.append((f"xcon stderr ({e.workdir.name}, last lines)", e.log_tail(40)))


def _track(e):
    _live_engines.append(e)
    return e


def _finish(e, check=True):
    try:
        if e.proc is not None:
            e.stop(check=check)
    finally:
        if e in _live_engines:
            _live_engines.remove(e)
        e.cleanup()


@pytest.fixture(scope="session")
def dm():
    return xconlib.Datamodel()


@pytest.fixture(scope="session")
def xcon_help():
    """xcon --help text (to see which options this build has)."""
    try:
        p = subprocess.run([xconlib.xcon_bin(), "--help"], capture_output=True, timeout=30)
        return (p.stdout + p.stderr).decode("utf-8", "replace")
    except Exception:  # noqa: BLE001
        return ""


@pytest.fixture(scope="module")
def engine(request, tmp_path_factory):
    name = request.module.__name__.rsplit(".", 1)[-1]
    # A module may set ENGINE_ARGS (more options) and ENGINE_ENV (e.g.
    # {"XCON_SIM_TIME_SCALE": "0.01"}) for its shared engine.
    # --sync normal: same code, no fsync per commit; test_persistence covers the default
    args = ["--sync", "normal"] + list(getattr(request.module, "ENGINE_ARGS", ()))
    e = _track(xconlib.Engine(tmp_path_factory.mktemp(name), extra_args=args,
                              env=getattr(request.module, "ENGINE_ENV", None)))
    e.start()
    yield e
    _finish(e)


@pytest.fixture(scope="module")
def root(engine):
    s = engine.local_session()
    yield s


@pytest.fixture
def make_engine(tmp_path):
    made = []

    def make(extra_args=(), start=True, name=None, **kw):
        e = _track(xconlib.Engine(tmp_path / (name or f"engine{len(made)}"), extra_args=extra_args, **kw))
        made.append(e)
        if start:
            e.start()
        return e

    yield make
    errors = []
    for e in made:
        try:
            _finish(e)
        except AssertionError as ex:  # report every engine, not just the first
            errors.append(str(ex))
    if errors:
        pytest.fail("\n\n".join(errors), pytrace=False)


def local_user(prefix):
    """A throwaway local account (name, password), removed afterwards; skips
    the test where one cannot be made."""
    if os.geteuid() != 0:
        pytest.skip("PAM tests create a local user with useradd: run as root (CI does)")
    name = prefix + secrets.token_hex(4)
    password = "Pw-" + secrets.token_urlsafe(12).replace(":", "x")
    try:
        subprocess.run(["useradd", "-M", "-N", "-s", "/usr/sbin/nologin", name], check=True,
                       capture_output=True, timeout=30)
    except (OSError, subprocess.CalledProcessError) as ex:
        pytest.skip(f"cannot create a test user with useradd: {ex}")
    try:
        subprocess.run(["chpasswd"], input=f"{name}:{password}\n".encode(), check=True, capture_output=True,
                       timeout=30)
        yield name, password
    finally:
        subprocess.run(["userdel", "-f", name], capture_output=True, timeout=30)


@pytest.fixture(scope="session")
def pam_user():
    """(name, password) of a local account created for this run."""
    yield from local_user("xce2e")


@pytest.fixture
def own_user():
    """A throwaway account of one test alone (its password may change)."""
    yield from local_user("xce2p")


@pytest.fixture(scope="module")
def x(root):
    """The module's root session as the XenAPI binding-style proxy."""
    return root.xenapi


@pytest.fixture(scope="session")
def xo_client():
    """Installs tests/clients' pinned npm packages once: `npm ci`, unless
    node_modules already holds exactly what package-lock.json pins (npm's
    own node_modules/.package-lock.json), so runs after the first need no
    network.  Skips only when node or npm is not installed."""
    clients = xconlib.REPO / "tests" / "clients"
    for tool in ("node", "npm"):
        if not shutil.which(tool):
            pytest.skip(f"{tool} is not installed (tools/install-deps installs nodejs and npm)")

    def installed():
        try:
            want = json.loads((clients / "package-lock.json").read_text())["packages"]
            have = json.loads((clients / "node_modules" / ".package-lock.json").read_text())["packages"]
        except (OSError, ValueError, KeyError):
            return False
        want = {k: v.get("version") for k, v in want.items() if k}
        return want == {k: v.get("version") for k, v in have.items()}

    if not installed():
        p = subprocess.run(["npm", "ci", "--prefix", str(clients), "--no-audit", "--no-fund", "--prefer-offline"],
                           capture_output=True, text=True, timeout=600)
        if p.returncode != 0:
            pytest.fail(f"npm ci --prefix tests/clients failed ({p.returncode}):\n{p.stdout[-3000:]}{p.stderr[-3000:]}",
                        pytrace=False)
        assert installed(), "npm ci did not install what package-lock.json pins"
    return clients / "xo_check.mjs"
