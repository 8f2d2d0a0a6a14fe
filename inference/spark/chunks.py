"""Chunks of preparations for the Spark engine's tasks.

A chunk holds whole *marker-run groups*: preparations that share a blot, plate or MS run
are scored together, because a run's detection floor (half its smallest detected
intensity) enters the marker features of every preparation in it. Everything else in a
preparation's features is its own, so the scores equal the local engine's.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from exoqc.dataset import Dataset

MAX_CHUNK_PREPS = 1000
"""Preparations per task at most: bounds a task's memory and keeps the cores evenly busy."""
MIN_CHUNK_PREPS = 25
"""Fewer preparations than this in a task would cost more in the task's own start
(spark_udf loads both models per task in local mode) than they take to featurize."""
CHUNKS_PER_CORE = 4


def marker_run_groups(dataset: Dataset) -> np.ndarray:
    """Group number of each preparation (dataset order): preparations linked through shared
    marker runs (the same ``assay`` and ``run``) are in one group.

    Connected components of the bipartite preparation–run graph (SciPy).
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    n_preps = len(dataset.prep_ids)
    markers = dataset.markers
    run = markers["run"].fillna("").astype(str)
    shared = markers[run != ""]
    if shared.empty:
        return np.arange(n_preps)
    prep_position = pd.Index(dataset.prep_ids).get_indexer(pd.Index(shared["prep_id"]))
    run_code, runs = pd.factorize(shared["assay"].astype(str) + "\x00" + run[run != ""])
    size = n_preps + len(runs)
    graph = coo_matrix((np.ones(len(shared)), (prep_position, n_preps + run_code)),
                       shape=(size, size))
    _, component = connected_components(graph, directed=False)
    return component[:n_preps]


def chunk_positions(groups: np.ndarray, n_chunks: int) -> list[np.ndarray]:
    """Positions of the preparations of each chunk: whole groups, about equal sizes, groups
    in the order of their first preparation, positions ascending within a chunk."""
    target = math.ceil(len(groups) / max(n_chunks, 1))
    members = pd.Series(np.arange(len(groups))).groupby(groups, sort=False).indices
    chunks: list[np.ndarray] = []
    current: list[np.ndarray] = []
    size = 0
    for positions in members.values():
        current.append(np.asarray(positions))
        size += len(positions)
        if size >= target:
            chunks.append(np.sort(np.concatenate(current)))
            current, size = [], 0
    if current:
        chunks.append(np.sort(np.concatenate(current)))
    return chunks


def n_chunks(n_preps: int, cores: int) -> int:
    """At least four chunks per core when there are enough preparations for them."""
    return max(math.ceil(n_preps / MAX_CHUNK_PREPS),
               min(CHUNKS_PER_CORE * cores, math.ceil(n_preps / MIN_CHUNK_PREPS)))
