"""The seed systems' serving design, the HTTP baseline: plain FastAPI on uvicorn, river per request.

``POST /predict`` scales the flow with the bundle's scaler and asks river's
``ARFClassifier.predict_proba_one`` (river's own vote), as the seed APIs did; ``POST
/noop`` parses the same body and answers a constant; ``GET /health``. No middleware, no
logging, no metrics: what is left is FastAPI, uvicorn and river. The routes are
``async`` (no thread hop) and uvicorn's access log is off, the fastest form of that
design::

    python -m arf_ids.bench.seed_app --model model.arfids --port 3002
"""

from __future__ import annotations

import argparse
from pathlib import Path

import uvicorn
from fastapi import FastAPI
from pydantic import BaseModel

from arf_ids.core.model import ModelBundle

NOOP_ANSWER = {"status": "ok"}


class SeedFlow(BaseModel):
    flow_id: str
    features: dict[str, float]


class SeedPrediction(BaseModel):
    flow_id: str
    prediction: str
    confidence: float


def create_app(model_path: Path) -> FastAPI:
    """The seed-style app serving the bundle saved at ``model_path``."""
    bundle = ModelBundle.load(model_path)
    app = FastAPI(title="seed-style ARF service")

    @app.post("/predict")
    async def predict(flow: SeedFlow) -> SeedPrediction:
        x = bundle.river_row(bundle.scaler.transform(bundle.schema.vector(flow.features)))
        probabilities = bundle.arf.predict_proba_one(x)
        code = max(probabilities, key=probabilities.__getitem__) if probabilities else 0
        return SeedPrediction(flow_id=flow.flow_id, prediction=bundle.classes[code],
                              confidence=float(probabilities.get(code, 0.0)))

    @app.post("/noop")
    async def noop(flow: SeedFlow) -> dict[str, str]:
        return NOOP_ANSWER

    @app.get("/health")
    async def health() -> dict[str, str]:
        return NOOP_ANSWER

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, required=True, help="a bundle written by ModelBundle.save")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    uvicorn.run(create_app(args.model), host=args.host, port=args.port, access_log=False, log_level="warning")


if __name__ == "__main__":
    main()
