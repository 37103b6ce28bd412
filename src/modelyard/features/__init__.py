"""The feature store: entities, feature views, point-in-time training data, online serving."""
