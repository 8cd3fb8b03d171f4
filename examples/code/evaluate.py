"""Evaluate the model on the held-out 20% of the points; write metrics in the manual's format.

  --data_url   CSV file or folder holding points.csv
  --model_url  folder holding model.json
  --metrics    the metrics file to write
"""
import json, math, os, sys

sys.path.insert(0, os.path.dirname(__file__))
from train import args, load  # noqa: E402


def main():
    a = args()
    rows = load(a["data_url"])
    test = rows[int(len(rows) * 0.8):]
    with open(os.path.join(a["model_url"], "model.json")) as f:
        w = json.load(f)["weights"]
    correct, loss = 0, 0.0
    for x1, x2, y in test:
        p = 1 / (1 + math.exp(-(w[0] + w[1] * x1 + w[2] * x2)))
        correct += int((p >= 0.5) == (y == 1))
        loss -= y * math.log(p + 1e-12) + (1 - y) * math.log(1 - p + 1e-12)
    accuracy = correct / len(test)
    metrics = [
        {"key": "accuracy", "title": "accuracy", "type": "float", "data": {"value": accuracy}},
        {"key": "loss", "title": "loss", "type": "float", "data": {"value": loss / len(test)}},
    ]
    os.makedirs(os.path.dirname(a["metrics"]) or ".", exist_ok=True)
    with open(a["metrics"], "w") as f:
        json.dump(metrics, f)
    print(f"accuracy {accuracy:.3f} on {len(test)} points")


if __name__ == "__main__":
    main()
