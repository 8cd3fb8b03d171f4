"""Train a nearest-colour classifier on a released dataset version, evaluate it on its EVAL
samples, and write the model and the metrics.

  --data_url   a dataset version's folder: manifest.json (JSON lines) and data/
  --model_url  the folder to write the model (model.json) into
  --metrics    the metrics file to write
"""
import json
import os
import shutil
import struct
import sys


def args():
    a = {}
    for arg in sys.argv[1:]:
        if arg.startswith("--") and "=" in arg:
            k, v = arg[2:].split("=", 1)
            a[k] = v
    return a


def mean_rgb(path):
    """The mean colour of a 24-bit BMP."""
    with open(path, "rb") as f:
        b = f.read()
    offset = struct.unpack_from("<I", b, 10)[0]
    w, h = struct.unpack_from("<ii", b, 18)
    row = (w * 3 + 3) // 4 * 4
    total = [0, 0, 0]
    for y in range(abs(h)):
        for x in range(w):
            p = offset + y * row + x * 3
            blue, green, red = b[p], b[p + 1], b[p + 2]
            total[0] += red
            total[1] += green
            total[2] += blue
    n = w * abs(h)
    return [t / n for t in total]


def main():
    a = args()
    root = a["data_url"]
    train, evaluate = [], []
    with open(os.path.join(root, "manifest.json")) as f:
        for line in f:
            if not line.strip():
                continue
            s = json.loads(line)
            labels = [x["name"] for x in s.get("annotation", [])]
            if not labels:
                continue
            item = (mean_rgb(os.path.join(root, s["source"])), labels[0])
            {"TRAIN": train, "EVAL": evaluate}.get(s.get("usage"), []).append(item)
    print(f"{len(train)} TRAIN and {len(evaluate)} EVAL samples")
    if not train:
        sys.exit("no TRAIN samples: label the dataset and release a version first")
    centroids = {}
    for rgb, label in train:
        c = centroids.setdefault(label, [0.0, 0.0, 0.0, 0])
        for i in range(3):
            c[i] += rgb[i]
        c[3] += 1
    model = {k: [c[i] / c[3] for i in range(3)] for k, c in centroids.items()}

    def predict(rgb):
        return min(model, key=lambda k: sum((model[k][i] - rgb[i]) ** 2 for i in range(3)))

    right = sum(1 for rgb, label in evaluate if predict(rgb) == label)
    accuracy = right / len(evaluate) if evaluate else 0.0
    print(f"accuracy on EVAL: {accuracy:.3f} ({right}/{len(evaluate)})")
    os.makedirs(a["model_url"], exist_ok=True)
    with open(os.path.join(a["model_url"], "model.json"), "w") as f:
        json.dump({"centroids": model}, f)
    # The serving code goes with the model, as a ModelArts model folder holds it.
    here = os.path.dirname(os.path.abspath(__file__))
    shutil.copy(os.path.join(here, "customize_service.py"), a["model_url"])
    os.makedirs(os.path.dirname(a["metrics"]) or ".", exist_ok=True)
    with open(a["metrics"], "w") as f:
        json.dump(
            [
                {"key": "accuracy", "title": "accuracy", "type": "float", "data": {"value": accuracy}},
                {"key": "train_samples", "title": "TRAIN samples", "type": "float", "data": {"value": len(train)}},
                {"key": "eval_samples", "title": "EVAL samples", "type": "float", "data": {"value": len(evaluate)}},
            ],
            f,
        )


if __name__ == "__main__":
    main()
