"""The release spec file: defaults, limits, and errors that name the key."""

from __future__ import annotations

import pytest

from exoqc.errors import ExoqcInputError
from exoqc.spec import load_spec


def test_no_file_gives_the_defaults():
    spec = load_spec(None)
    assert spec.release.alpha == 0.1
    assert spec.release.purity_accept == ["high"]
    assert spec.limits == {}


def test_limits_are_read_by_attribute(tmp_path):
    path = tmp_path / "spec.toml"
    path.write_text("[release]\nalpha = 0.05\n[limits.dls_z_average_nm]\nlower = 60\n"
                    "upper = 140\n[limits.dls_pdi]\nupper = 0.3\n")
    spec = load_spec(path)
    assert spec.release.alpha == 0.05
    assert (spec.limits["dls_z_average_nm"].lower, spec.limits["dls_z_average_nm"].upper) == (
        60, 140)
    assert spec.limits["dls_pdi"].lower is None


@pytest.mark.parametrize(("text", "key"), [
    ("[limits.dls_pdi]\nlower = 0.5\nupper = 0.1\n", "limits.dls_pdi"),
    ("[limits.dls_pdi]\n", "limits.dls_pdi"),
    ("[release]\nalpha = 1.5\n", "release.alpha"),
    ("[limits.dls_pdi]\nuper = 0.3\n", "limits.dls_pdi.uper"),
])
def test_a_bad_value_names_the_file_and_key(tmp_path, text, key):
    path = tmp_path / "spec.toml"
    path.write_text(text)
    with pytest.raises(ExoqcInputError, match=f"key '{key}'") as error:
        load_spec(path)
    assert str(path) in str(error.value)


def test_not_toml_is_an_input_error(tmp_path):
    path = tmp_path / "spec.toml"
    path.write_text("[limits\n")
    with pytest.raises(ExoqcInputError, match="not valid TOML"):
        load_spec(path)
