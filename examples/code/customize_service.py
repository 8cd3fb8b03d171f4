"""Serving code for the flower classifier, written as for ModelArts: a class derived from the
SDK's base service, with _preprocess / _inference / _postprocess. `train_flowers.py` copies it
into the model folder beside model.json.

Request:  {"rgb": [R, G, B]}            (a colour, 0-255 each)
Answer:   {"label": "rose", "distances": {"rose": ..., "sunflower": ...}}
"""
import json
import os

from model_service.model_service import SingleNodeService


class FlowerService(SingleNodeService):
    def __init__(self, model_name, model_path):
        super(FlowerService, self).__init__(model_name, model_path)
        with open(os.path.join(self.model_path, "model.json")) as f:
            self.centroids = json.load(f)["centroids"]

    def _preprocess(self, data):
        rgb = data.get("rgb") if isinstance(data, dict) else None
        if not (isinstance(rgb, list) and len(rgb) == 3):
            raise ValueError('send {"rgb": [R, G, B]}')
        return [float(x) for x in rgb]

    def _inference(self, rgb):
        d = {k: sum((c[i] - rgb[i]) ** 2 for i in range(3)) ** 0.5 for k, c in self.centroids.items()}
        return {"label": min(d, key=d.get), "distances": {k: round(v, 1) for k, v in d.items()}}

    def _postprocess(self, answer):
        return answer
