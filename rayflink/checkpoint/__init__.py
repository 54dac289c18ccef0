"""Checkpoints: barriers, checkpoint storage (file://, s3://), savepoints, restore and rescale."""
