"""Data sources as LightningDataModules (`dataset=NAME`)."""
