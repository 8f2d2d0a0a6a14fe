"""The domain note gives the real training range and the tolerance apart."""

from __future__ import annotations

import pandas as pd

from exoqc.model.domain import ApplicabilityDomain


def test_the_note_names_the_real_training_range_and_the_tolerance():
    training = pd.DataFrame({"particles_per_ml": [1e9, 5e9, 2e10]})
    domain = ApplicabilityDomain().fit(training)
    note = domain.check(pd.DataFrame({"particles_per_ml": [3e10, 1e10]}))
    assert not note.at[0, "in_domain"] and note.at[1, "in_domain"]
    # The training values went from 1e9 to 2e10, never below 0: the padded bound
    # (1e9 - 1.9e9 < 0) is not shown as the training range.
    assert "is above the training range (1e+09 to 2e+10)" in note.at[0, "domain_note"]
    assert "by more than the tolerance (10% of that range)" in note.at[0, "domain_note"]
    assert domain.training_range("particles_per_ml") == (1e9, 2e10)
