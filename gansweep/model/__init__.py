"""K >= 1 grid points as one batched model: the points, the stack of their networks, the update steps, per-point
health, sampling, and the small LightningModule that calls them (an ordinary run is the group of one)."""
