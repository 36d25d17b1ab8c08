"""Prediction: trained models applied to images."""
