"""moto's server, one request at a time.

moto does not isolate DynamoDB transactions: TransactWriteItems checks and writes item by item
with no lock, and a cancelled transaction restores a copy of the whole table taken when it
began, erasing whatever other requests wrote meanwhile. Real DynamoDB serialises transactions.
Handling one request at a time gives the same guarantee; requests of different clients still
interleave between calls, which is where Pipewright's races are.

    python moto_serial.py HOST PORT
"""

import os
import sys
import threading

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import run_simple


def main() -> None:
    host, port = sys.argv[1], int(sys.argv[2])
    os.environ.setdefault("MOTO_PORT", str(port))
    app = DomainDispatcherApplication(create_backend_app)
    lock = threading.Lock()

    def serialised(environ, start_response):
        with lock:
            # Consume the body inside the lock: moto builds responses lazily in places.
            return [b"".join(app(environ, start_response))]

    # Threaded, so idle keep-alive connections never block others; the lock orders the work.
    run_simple(host, port, serialised, threaded=True)


if __name__ == "__main__":
    main()
