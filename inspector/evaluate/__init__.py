"""Evaluation of an exported model through the deployed runtime."""
