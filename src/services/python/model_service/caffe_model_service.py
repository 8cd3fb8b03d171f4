# -*- coding: utf-8 -*-
"""``model_service.caffe_model_service``: the Caffe base service.

As on ModelArts, the constructor builds ``self.net`` (``caffe.Net``) from the
``*.prototxt`` (deploy definition) and ``*.caffemodel`` (weights) in the model
folder; ``_preprocess`` fills ``self.net.blobs`` and the built-in ``_inference``
returns ``self.net.forward()``. Caffe is imported only when the class is built.
"""
import glob
import os

from . import log
from .model_service import SingleNodeService

logger = log.getLogger(__name__)


def _one(folder, pattern, what):
    found = sorted(glob.glob(os.path.join(folder, pattern)))
    deploy = [f for f in found if "deploy" in os.path.basename(f)]
    if deploy:
        return deploy[0]
    if not found:
        raise RuntimeError("CaffeBaseService: no %s (%s) in %s" % (what, pattern, folder))
    return found[0]


class CaffeBaseService(SingleNodeService):
    net = None
    _wf_model_path = "dir"

    def __init__(self, model_name, model_path):
        self.model_name = model_name
        self.model_path = model_path
        folder = model_path if os.path.isdir(model_path) else os.path.dirname(model_path)
        try:
            import caffe
        except ImportError as e:
            raise RuntimeError("CaffeBaseService needs Caffe's Python module (caffe): %s" % e)
        prototxt = _one(folder, "*.prototxt", "network definition")
        weights = _one(folder, "*.caffemodel", "weights file")
        self.net = caffe.Net(prototxt, weights, caffe.TEST)

    def _preprocess(self, data):
        return data

    def _inference(self, data):
        return self.net.forward()

    def _postprocess(self, data):
        return data
