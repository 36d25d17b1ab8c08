"""Neural network models (stage by stage, no training code here)."""
