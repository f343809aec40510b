"""Evidence that the model is right: queueing theory, engine agreement, calibration."""
