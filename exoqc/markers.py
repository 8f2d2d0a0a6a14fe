"""Marker vocabulary: HGNC symbols, common names and MISEV2018 categories.

Labs write the same protein many ways (``ALIX``, ``Alix``, ``AIP1``, ``PDCD6IP``;
``GM130``, ``GOLGA2``). Every marker name in ``markers.csv`` is resolved here to one HGNC
symbol and its MISEV2018 category (Théry et al., J Extracell Vesicles 2018, Table 3):

1. transmembrane or GPI-anchored proteins of the EV membrane (tetraspanins, integrins, ...)
2. cytosolic proteins recovered in EVs (ESCRT-related TSG101, ALIX, syntenin, flotillins, ...)
3. major components of non-EV co-isolated structures (lipoproteins, albumin)
4. proteins of other intracellular compartments (ER, Golgi, nucleus, mitochondria)
5. secreted or luminal proteins that may bind EVs (cytokines, growth factors)

``positive`` marks the proteins that count toward MISEV's "positive EV marker" minimum:
categories 1 and 2a. Housekeeping proteins such as actin or GAPDH are in category 2 but are
found in any cell fraction, so they do not count.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

CATEGORY_NAMES: dict[int, str] = {
    1: "transmembrane/GPI-anchored EV protein",
    2: "cytosolic EV protein",
    3: "non-EV co-isolate (lipoprotein, albumin)",
    4: "other intracellular compartment (ER, Golgi, nucleus, mitochondria)",
    5: "secreted protein",
}


@dataclass(frozen=True)
class Marker:
    """One protein marker: its HGNC symbol, a readable name and its MISEV2018 category."""

    symbol: str
    name: str
    category: int
    positive: bool
    aliases: tuple[str, ...] = ()


_MARKERS: tuple[Marker, ...] = (
    # Category 1: EV membrane
    Marker("CD63", "CD63", 1, True, ("LAMP3", "TSPAN30", "ME491")),
    Marker("CD81", "CD81", 1, True, ("TAPA1", "TSPAN28")),
    Marker("CD9", "CD9", 1, True, ("TSPAN29",)),
    Marker("ITGB1", "integrin β1", 1, True, ("CD29", "integrin beta1", "integrin b1")),
    Marker("LAMP1", "LAMP-1", 1, True, ("CD107a",)),
    Marker("LAMP2", "LAMP-2", 1, True, ("CD107b",)),
    Marker("TFRC", "transferrin receptor", 1, True, ("CD71", "TfR", "TfR1")),
    Marker("BSG", "EMMPRIN", 1, True, ("CD147", "basigin")),
    Marker("NT5E", "CD73", 1, True, ("ecto-5'-nucleotidase",)),
    Marker("ADAM10", "ADAM10", 1, True, ()),
    Marker("HLA-A", "MHC class I", 1, True, ("MHC-I", "MHC I", "HLA class I", "HLA-ABC")),
    # Category 2a: cytosolic, EV-associated
    Marker("TSG101", "TSG101", 2, True, ("tumor susceptibility gene 101",)),
    Marker("PDCD6IP", "ALIX", 2, True, ("AIP1", "Alix")),
    Marker("SDCBP", "syntenin-1", 2, True, ("syntenin", "syntenin 1", "MDA-9")),
    Marker("FLOT1", "flotillin-1", 2, True, ("flotillin", "flotillin 1", "reggie-2")),
    Marker("FLOT2", "flotillin-2", 2, True, ("flotillin 2", "reggie-1")),
    Marker("CAV1", "caveolin-1", 2, True, ("caveolin", "caveolin 1")),
    Marker("HSPA8", "HSC70", 2, True, ("HSP73", "heat shock cognate 71 kDa")),
    Marker("HSPA1A", "HSP70", 2, True, ("HSP72", "heat shock protein 70")),
    Marker("HSP90AB1", "HSP90β", 2, True, ("HSP90", "HSP90B", "HSP84")),
    Marker("ANXA2", "annexin A2", 2, True, ("annexin II", "annexin 2")),
    Marker("ANXA5", "annexin A5", 2, True, ("annexin V", "annexin 5")),
    Marker("VPS4A", "VPS4A", 2, True, ()),
    Marker("CHMP4B", "CHMP4B", 2, True, ()),
    # Category 2b: found in EVs and in any cell fraction
    Marker("ACTB", "β-actin", 2, False, ("actin", "beta-actin", "b-actin")),
    Marker("GAPDH", "GAPDH", 2, False, ()),
    Marker("TUBA1A", "α-tubulin", 2, False, ("tubulin", "alpha-tubulin", "a-tubulin")),
    # Category 3: non-EV co-isolates
    Marker("APOA1", "apolipoprotein A-I", 3, False, ("ApoA-I", "ApoAI", "apoA1", "apo A1")),
    Marker("APOA2", "apolipoprotein A-II", 3, False, ("ApoA-II", "ApoAII", "apo A2")),
    Marker("APOB", "apolipoprotein B", 3, False, ("ApoB-100", "ApoB100", "ApoB-48", "apo B")),
    Marker("APOE", "apolipoprotein E", 3, False, ("apo E",)),
    Marker("ALB", "albumin", 3, False, ("serum albumin", "BSA", "HSA", "bovine serum albumin")),
    Marker("UMOD", "uromodulin", 3, False, ("Tamm-Horsfall protein", "THP")),
    # Category 4: other compartments
    Marker("CANX", "calnexin", 4, False, ("CNX", "IP90")),
    Marker("GOLGA2", "GM130", 4, False, ("golgin A2", "golgin-95")),
    Marker("HSPA5", "GRP78", 4, False, ("BiP", "GRP-78", "HSPA5/BiP")),
    Marker("HSP90B1", "GRP94", 4, False, ("endoplasmin", "GP96", "GRP-94")),
    Marker("CALR", "calreticulin", 4, False, ("CRT",)),
    Marker("H3C1", "histone H3", 4, False, ("H3", "histone", "histones", "HIST1H3A")),
    Marker("H2BC1", "histone H2B", 4, False, ("H2B", "HIST1H2BA")),
    Marker("H4C1", "histone H4", 4, False, ("H4", "HIST1H4A")),
    Marker("LMNA", "lamin A/C", 4, False, ("lamin A", "lamin", "lamin A/C")),
    Marker("TOMM20", "TOM20", 4, False, ("TOMM-20",)),
    Marker("CYCS", "cytochrome c", 4, False, ("cyt c", "cytochrome C")),
    Marker("VDAC1", "VDAC1", 4, False, ("porin",)),
    Marker("ATG9A", "ATG9A", 4, False, ()),
    # Category 5: secreted proteins
    Marker("FN1", "fibronectin", 5, False, ()),
    Marker("TGFB1", "TGF-β1", 5, False, ("TGF-beta1", "TGFb1", "TGF beta 1")),
    Marker("VEGFA", "VEGF-A", 5, False, ("VEGF",)),
    Marker("HGF", "HGF", 5, False, ("hepatocyte growth factor",)),
)


def _key(name: str) -> str:
    """Spelling-insensitive key: case, spaces, hyphens, dots, slashes and Greek letters."""
    text = name.strip().lower()
    text = text.replace("β", "beta").replace("α", "alpha")
    return re.sub(r"[\s\-_./']", "", text)


MARKERS: dict[str, Marker] = {m.symbol: m for m in _MARKERS}

_ALIASES: dict[str, str] = {}
for _marker in _MARKERS:
    for _name in (_marker.symbol, _marker.name, *_marker.aliases):
        _existing = _ALIASES.setdefault(_key(_name), _marker.symbol)
        if _existing != _marker.symbol:
            raise RuntimeError(
                f"marker alias {_name!r} names both {_existing} and {_marker.symbol}"
            )


def resolve_marker(name: str) -> Marker | None:
    """The marker a lab's name refers to (``"Alix"`` -> PDCD6IP), or ``None`` if unknown."""
    symbol = _ALIASES.get(_key(name))
    return MARKERS[symbol] if symbol else None


_LET7 = re.compile(r"^(?:hsa|mmu|bta|cel)?(?:mir)?let7([a-k])(?:5p|3p)?$")


def normalize_cargo_target(name: str) -> str:
    """One spelling per RNA target: ``hsa-let-7a-5p``, ``let7a``, ``Let-7a`` -> ``let-7a``.

    Other targets are returned lower-cased with surrounding spaces removed
    (``miR-21`` -> ``mir-21``).
    """
    match = _LET7.match(_key(name))
    if match:
        return f"let-7{match.group(1)}"
    return name.strip().lower()
