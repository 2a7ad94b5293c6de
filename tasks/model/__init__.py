"""The model: features, labels, sealed split, CV, training, signal statistics, registration."""
