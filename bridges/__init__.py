"""Carrier bridges. The contract and the first carriers arrive with the local app."""
