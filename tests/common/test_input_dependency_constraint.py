"""``InputDependencyConstraint``: PyFlink's enum, by name and value, at both of its paths."""

from __future__ import annotations

import pickle

from rayflink.common import InputDependencyConstraint
from rayflink.common.input_dependency_constraint import InputDependencyConstraint as AtModulePath


def test_the_constraint_is_pyflinks_enum():
    assert AtModulePath is InputDependencyConstraint
    assert [(c.name, c.value) for c in InputDependencyConstraint] == [("ANY", 0), ("ALL", 1)]
    assert InputDependencyConstraint["ALL"] is InputDependencyConstraint(1) is InputDependencyConstraint.ALL
    assert pickle.loads(pickle.dumps(InputDependencyConstraint.ANY)) is InputDependencyConstraint.ANY
