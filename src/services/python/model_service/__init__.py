# -*- coding: utf-8 -*-
"""Local stand-in for ModelArts' ``model_service`` package (the inference SDK).

``wf`` writes this package next to ``wf_model_server.py`` so that a model's
``customize_service.py`` written for ModelArts imports unchanged:

    from model_service.model_service import SingleNodeService
    from model_service.pytorch_model_service import PTServingBaseService
    from model_service.tfserving_model_service import TfServingBaseService
    from model_service.python_model_service import XgSklServingBaseService
    from model_service.spark_model_service import SparkServingBaseService
    from model_service.caffe_model_service import CaffeBaseService
    import model_service.log as log      # or: from model_service import log

Nothing here imports a machine-learning framework at import time; a base class
that needs one (TensorFlow, Caffe, PySpark, scikit-learn/XGBoost) imports it only
when its built-in behaviour is used, and says clearly what is missing.
"""

__version__ = "1.0.0"
WF_LOCAL = True
