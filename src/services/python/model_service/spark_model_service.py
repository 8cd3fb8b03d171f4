# -*- coding: utf-8 -*-
"""``model_service.spark_model_service``: the PySpark base service.

Built as ``cls(model_path)``, where ``model_path`` is the saved Spark model
folder (the sub-folder of the model folder holding ``metadata/``, else the
model folder itself). ``self.spark`` is a local SparkSession, created on first
use with the ``pyspark`` installed here. As in ModelArts' machine-learning
runtime, ``data`` is the request body as a string and the answer is wrapped as
``{"data": {"resp_data": <result>}}``. ModelArts' examples override
``_preprocess`` and ``_inference``; the built-in ones only pass data through.
"""
import threading

from . import log
from .model_service import SingleNodeService

logger = log.getLogger(__name__)
_LOCK = threading.Lock()
_SESSION = None


def _spark_session():
    global _SESSION
    if _SESSION is not None:
        return _SESSION
    with _LOCK:
        if _SESSION is None:
            try:
                from pyspark.sql import SparkSession
            except ImportError as e:
                raise RuntimeError(
                    "SparkServingBaseService needs pyspark (pip install pyspark) for "
                    "self.spark: %s" % e)
            _SESSION = (SparkSession.builder.master("local[*]")
                        .appName("wf-model-service").getOrCreate())
    return _SESSION


class SparkServingBaseService(SingleNodeService):
    _wf_model_path = "spark"
    _wf_raw_body = True
    _wf_wrap_response = True

    def __init__(self, model_path):
        self.model_path = model_path

    @property
    def spark(self):
        value = self.__dict__.get("spark")
        return value if value is not None else _spark_session()

    @spark.setter
    def spark(self, value):
        self.__dict__["spark"] = value

    def _preprocess(self, data):
        return data

    def _inference(self, data):
        return data

    def _postprocess(self, data):
        return data
