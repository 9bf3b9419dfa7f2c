"""The three reference implementations of the archbench e-commerce contract."""
