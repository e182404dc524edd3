"""MLflow's own tracking-server app on 127.0.0.1, one process, no job runner (test helper).

    python -m arf_ids_tests.serving.mlflow_app --store sqlite:///…/mlflow.db --port 5123

``mlflow server`` starts a job runner and several consumers and takes over half a minute
on two cores; this serves the same Flask app (the REST API the registry client uses)
with werkzeug's threaded server.
"""

from __future__ import annotations

import argparse
import os


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--store", required=True, help="backend and registry store URI")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    os.environ["_MLFLOW_SERVER_FILE_STORE"] = args.store
    os.environ["_MLFLOW_SERVER_REGISTRY_STORE"] = args.store

    from mlflow.server import app
    from werkzeug.serving import make_server

    make_server("127.0.0.1", args.port, app, threaded=True).serve_forever()


if __name__ == "__main__":
    main()
