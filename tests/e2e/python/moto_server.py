"""moto in server mode on 127.0.0.1, on a port the kernel picks.

    python moto_server.py
    stdout: {"port": 41234}

Serves every moto backend (the tests use SQS and SNS, including SNS -> SQS
subscriptions, which moto delivers inside this process) until SIGTERM.
"""

import json
import signal
import threading

from moto.server import ThreadedMotoServer


def main():
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    _, port = server.get_host_and_port()
    print(json.dumps({"port": port}), flush=True)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()
    server.stop()


if __name__ == "__main__":
    main()
