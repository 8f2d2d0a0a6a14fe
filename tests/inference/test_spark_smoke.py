"""Spark local mode runs exoqc code on its executors (issue 9's engine builds on this).

``mapInPandas`` ships a function to Spark's Python workers, which must import the same
installed exoqc as the driver; here they compute Stokes–Einstein diffusion coefficients
with ``exoqc.features.dls.physics``, checked against the equation evaluated independently.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator

import pandas as pd
from scipy.constants import Boltzmann

import exoqc
from tests import services

spark_session = services.spark_session

TEMPERATURE_K = 298.15
VISCOSITY_PA_S = 0.8872e-3  # water, 25 °C


def test_executors_import_exoqc_and_run_its_code(spark_session):
    # Defined here so that cloudpickle ships it by value: workers cannot import test modules.
    def diffusion_on_executor(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        import os

        import exoqc
        from exoqc.features.dls.physics import diffusion_coefficient_m2_per_s

        for batch in batches:
            yield pd.DataFrame(
                {
                    "prep_id": batch["prep_id"],
                    "diffusion_m2_per_s": diffusion_coefficient_m2_per_s(
                        batch["diameter_nm"].to_numpy(), TEMPERATURE_K, VISCOSITY_PA_S
                    ),
                    "worker_pid": os.getpid(),
                    "exoqc_file": exoqc.__file__,
                }
            )

    preps = pd.DataFrame(
        {
            "prep_id": [f"P{i:03d}" for i in range(40)],
            "diameter_nm": [30.0 + 5 * i for i in range(40)],
        }
    )
    result = (
        spark_session.createDataFrame(preps)
        .repartition(2)
        .mapInPandas(
            diffusion_on_executor,
            "prep_id string, diffusion_m2_per_s double, worker_pid long, exoqc_file string",
        )
        .toPandas()
        .set_index("prep_id")
        .loc[preps["prep_id"]]
    )

    assert len(result) == len(preps)
    for diameter_nm, diffusion in zip(
        preps["diameter_nm"], result["diffusion_m2_per_s"], strict=True
    ):
        expected = Boltzmann * TEMPERATURE_K / (3 * math.pi * VISCOSITY_PA_S * diameter_nm * 1e-9)
        assert math.isclose(diffusion, expected, rel_tol=1e-12)
    # Python workers are processes of their own, importing the driver's installed exoqc
    assert os.getpid() not in set(result["worker_pid"])
    assert set(result["exoqc_file"]) == {exoqc.__file__}
