"""The comparison of a sweep, from its run folders only: ranked table, heatmaps, curves, results documents and the
W&B report run."""
