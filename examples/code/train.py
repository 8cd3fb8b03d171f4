"""Train a logistic-regression classifier on 2-D points, with nothing but the standard library.

Arguments arrive as --name=value (also as WF_PARAM_*/WF_INPUT_*/WF_OUTPUT_* variables):
  --data_url   CSV file or folder holding points.csv (x1,x2,label)
  --model_url  folder to write model.json to
  --epochs, --lr
"""
import json, math, os, sys


def args():
    out = {}
    for a in sys.argv[1:]:
        if a.startswith("--") and "=" in a:
            k, v = a[2:].split("=", 1)
            out[k] = v
    return out


def load(path):
    if os.path.isdir(path):
        path = os.path.join(path, "points.csv")
    rows = []
    with open(path) as f:
        for line in f:
            if line.strip() and not line.startswith("x1"):
                x1, x2, y = line.strip().split(",")
                rows.append((float(x1), float(x2), int(y)))
    return rows


def main():
    a = args()
    rows = load(a["data_url"])
    split = int(len(rows) * 0.8)
    train = rows[:split]
    epochs, lr = int(a.get("epochs", 20)), float(a.get("lr", 0.5))
    w = [0.0, 0.0, 0.0]
    for epoch in range(epochs):
        loss = 0.0
        for x1, x2, y in train:
            z = w[0] + w[1] * x1 + w[2] * x2
            p = 1 / (1 + math.exp(-z))
            loss -= y * math.log(p + 1e-12) + (1 - y) * math.log(1 - p + 1e-12)
            g = p - y
            w = [w[0] - lr * g, w[1] - lr * g * x1, w[2] - lr * g * x2]
        print(f"epoch {epoch + 1}/{epochs} loss {loss / len(train):.4f}", flush=True)
    out = a["model_url"]
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "model.json"), "w") as f:
        json.dump({"weights": w, "epochs": epochs, "lr": lr}, f)
    print(f"wrote {out}/model.json")


if __name__ == "__main__":
    main()
