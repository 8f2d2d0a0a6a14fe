"""NTA (nanoparticle tracking analysis): readers, analysis, features, ``exoqc nta``."""
