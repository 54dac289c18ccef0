"""cluster.yaml passes Ray's own cluster-config validation (what `ray up` checks)."""

from __future__ import annotations

import os

import yaml
from ray.autoscaler._private.util import validate_config

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_cluster_yaml_is_valid_for_ray_up():
    with open(os.path.join(HERE, "cluster.yaml"), encoding="utf-8") as f:
        config = yaml.safe_load(f)
    validate_config(config)  # raises jsonschema's ValidationError naming the offending key
    assert config["provider"]["type"] == "local"
    assert any("pip install" in c and "rayflink" in c for c in config["setup_commands"])
