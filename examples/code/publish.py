"""Publish a trained model: copy it with its metrics into a release folder, with a model card.

  --model_url  folder holding model.json
  --metrics    the evaluation's metrics file
  --release    folder to publish into
"""
import json, os, shutil, sys

sys.path.insert(0, os.path.dirname(__file__))
from train import args  # noqa: E402


def main():
    a = args()
    os.makedirs(a["release"], exist_ok=True)
    shutil.copy(os.path.join(a["model_url"], "model.json"), os.path.join(a["release"], "model.json"))
    with open(a["metrics"]) as f:
        metrics = {m["key"]: m["data"]["value"] for m in json.load(f) if m.get("type") == "float"}
    card = {"name": a.get("name", "points-clf"), "metrics": metrics, "execution": os.environ.get("WF_EXECUTION_ID")}
    with open(os.path.join(a["release"], "card.json"), "w") as f:
        json.dump(card, f, indent=2)
    print(f"published {a['release']} with accuracy {metrics.get('accuracy')}")


if __name__ == "__main__":
    main()
