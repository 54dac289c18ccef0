"""cluster.yaml passes Ray's own cluster-config checks: the file as written against Ray's JSON
schema, and the config `ray up` prepares from it against validate_config."""

from __future__ import annotations

import json
import os

import jsonschema
import ray.autoscaler
import yaml
from ray.autoscaler._private.util import prepare_config, validate_config

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _cluster_yaml() -> dict:
    with open(os.path.join(HERE, "cluster.yaml"), encoding="utf-8") as f:
        return yaml.safe_load(f)


def test_cluster_yaml_as_written_matches_rays_schema():
    with open(os.path.join(os.path.dirname(ray.autoscaler.__file__), "ray-schema.json"), encoding="utf-8") as f:
        schema = json.load(f)
    jsonschema.validate(_cluster_yaml(), schema)  # names the offending key, e.g. a legacy min_workers


def test_cluster_yaml_as_ray_up_prepares_it_is_valid():
    config = _cluster_yaml()
    validate_config(prepare_config(config))
    assert config["provider"]["type"] == "local"
    assert any("pip install" in c and "rayflink" in c for c in config["setup_commands"])
