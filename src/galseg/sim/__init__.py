"""Simulated galaxies with exact truth, and simulated Galaxy Zoo 3D volunteers."""
