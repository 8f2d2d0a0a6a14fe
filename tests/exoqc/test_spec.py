"""The release specification file (``--spec``): defaults, a full file, errors by key."""

from __future__ import annotations

import pytest

from exoqc.errors import ExoqcInputError
from exoqc.spec import ReleaseSpec, Spec, SpecLimits, load_spec


def test_no_file_gives_the_documented_defaults():
    spec = load_spec(None)
    assert spec == Spec()
    assert spec.release == ReleaseSpec(alpha=0.1, purity_accept=["high"],
                                       potency_accept=["potent"])
    assert spec.limits == {}


def test_a_full_file_is_read(tmp_path):
    path = tmp_path / "spec.toml"
    path.write_text('[release]\nalpha = 0.05\npurity_accept = ["high", "medium"]\n'
                    'potency_accept = ["potent"]\n\n[limits.dls_z_average_nm]\nlower = 50\n'
                    "upper = 150\n\n[limits.p_potent]\nlower = 0.6\n")
    spec = load_spec(path)
    assert spec.release.alpha == 0.05
    assert spec.release.purity_accept == ["high", "medium"]
    assert spec.limits == {"dls_z_average_nm": SpecLimits(lower=50, upper=150),
                           "p_potent": SpecLimits(lower=0.6)}


def test_keys_left_out_keep_their_defaults(tmp_path):
    path = tmp_path / "spec.toml"
    path.write_text("[release]\nalpha = 0.2\n")
    assert load_spec(path) == Spec(release=ReleaseSpec(alpha=0.2))


@pytest.mark.parametrize(("text", "expected"), [
    ("[release]\nalpha = 1.5\n", r"key 'release\.alpha': Input should be less than 1"),
    ("[release]\npurity_acept = ['high']\n", r"unknown key 'release\.purity_acept'"),
    ("[releases]\nalpha = 0.1\n", r"unknown key 'releases'"),
    ("[release]\npotency_accept = ['super']\n",
     r"key 'release\.potency_accept': .*unknown class\(es\) 'super'; expected some of "
     r"potent, subpotent"),
    ("[limits.dls_z_average_nm]\nlower = 200\nupper = 100\n",
     r"key 'limits\.dls_z_average_nm': expected lower < upper"),
    ("[limits.dls_pdi]\n", r"key 'limits\.dls_pdi': expected 'lower', 'upper' or both"),
    ("[limits.dls_pdi]\nupper = 0.3\nmax = 1\n", r"unknown key 'limits\.dls_pdi\.max'"),
    ("[release\nalpha = 0.1\n", r"not valid TOML"),
])
def test_a_bad_file_names_the_file_the_key_and_what_was_expected(tmp_path, text, expected):
    path = tmp_path / "spec.toml"
    path.write_text(text)
    with pytest.raises(ExoqcInputError, match=expected) as caught:
        load_spec(path)
    assert str(caught.value).startswith(f"{path}: ")


def test_a_missing_file_is_an_input_error(tmp_path):
    with pytest.raises(ExoqcInputError, match="cannot read the release specification"):
        load_spec(tmp_path / "absent.toml")
