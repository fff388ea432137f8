"""pytest fixtures for the Python e2e tests: one fake Dynatrace, gateway
and moto per test module (started on 127.0.0.1, stopped after it)."""

import pytest

import flows
import harness

PROTOCOLS = ["http/protobuf", "grpc"]


@pytest.fixture(scope="module")
def h():
    hh = harness.Harness()
    yield hh
    hh.stop_all()


@pytest.fixture(scope="module")
def env(h):
    sink = h.start_fake_dynatrace()
    gateway = h.start_gateway(sink.url, hold_window="10s")
    moto = h.start_moto()
    yield flows.Env(h, sink, gateway, moto)
    sink.stop_watching()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if rep.when == "call" and rep.failed and "h" in item.funcargs:
        item.funcargs["h"].dump_logs()
