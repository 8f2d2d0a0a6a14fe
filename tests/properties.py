"""Hypothesis settings shared by the property tests.

Few examples per property (the whole suite must stay fast), no per-example deadline (a
timed assertion would be flaky on a loaded machine), and in CI the same examples on every
run (``derandomize``, no example database), so that a red build can be reproduced. Locally
the examples are random and failures are remembered in ``.hypothesis/``;
``EXOQC_PROPERTY_SCALE=20`` runs 20 times as many examples for a deeper search.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, Phase, settings

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
SCALE = float(os.environ.get("EXOQC_PROPERTY_SCALE", "1"))


def property_settings(max_examples: int) -> settings:
    """Settings for one property test with at most ``max_examples`` examples."""
    ci = {"derandomize": True, "database": None} if IN_CI else {}
    return settings(
        max_examples=max(1, round(max_examples * SCALE)),
        deadline=None,
        # The explain phase reruns a failing example hundreds of times: minutes for scoring.
        phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink],
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                               HealthCheck.data_too_large],
        print_blob=True,
        **ci,
    )
